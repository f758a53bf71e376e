"""Who a client is: SASL mechanisms' rules and the credentials they check (Kafka's security
subsystem). `scram.py` is RFC 5802 as Kafka does it, without a database; `credentials.py` stores
console users' SCRAM credentials and applies Kafka's rules for altering and describing them."""
