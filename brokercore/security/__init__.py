"""Who a client is and what it may do (Kafka's security subsystem): principals and the authorizer
(Kafka's ACLs, `acl.py`) every adapter asks; SASL mechanisms' rules and the credentials they check
(`scram.py`, RFC 5802 as Kafka does it, without a database; `credentials.py`, console users' SCRAM
credentials with Kafka's rules for altering and describing them)."""
