"""Confluent REST Proxy v3: clusters, topics, partitions, configs, records, consumer groups, brokers, ACLs.

One module per resource; `shared` holds what every route does (registration with the common error
responses, the cluster check, URLs, CRNs, `related` links, list envelopes), so a route states only
what is its own. Every object has Confluent's "kind" and "metadata" ({"self": absolute URL,
"resource_name": CRN}) and links to related resources as {"related": url}, so clients written for
Confluent's proxy can follow them. Every link leads somewhere that answers. Every route asks brokercore's
authorizer (console.api.access) for what its Kafka API equivalent needs; `acls` lists and changes
the ACLs it decides by. Lists are never paged here ("next" is always null, as in Confluent's proxy, which
answers every list whole too).
"""

# Imported in this order so the routes register as they always have: the first match wins (the
# cluster-wide reassignments' "topics/-" before a topic named by the path).
from console.api.v3 import clusters, topics, partitions, configs, records, groups, brokers, acls  # noqa: F401, I001
from console.api.v3.shared import router

__all__ = ["router"]
