"""Who may do what: principals and the authorizer (Kafka's ACLs) every adapter asks."""
