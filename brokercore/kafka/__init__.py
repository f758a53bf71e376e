"""Kafka's wire protocol for brokercore, so unmodified Kafka clients produce and consume.

`server.KafkaListener` accepts connections; `protocol` frames and decodes with kio; one module per
API family under `apis/` answers requests by calling the subsystems (cluster, topics, log, coordinator).
"""
