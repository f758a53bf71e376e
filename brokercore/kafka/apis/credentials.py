"""DescribeUserScramCredentials (50) and AlterUserScramCredentials (51): Kafka admin clients
listing and setting users' SCRAM credentials (kafka-configs --entity-type users, KIP-554).

Both need the cluster's DESCRIBE / ALTER permission from the authorizer (brokercore.security.acl:
staff are super users; with no ACL on the cluster, BROKER_ACL_NO_MATCH decides, and ALTER needs
staff by default): anyone else gets CLUSTER_AUTHORIZATION_FAILED, for the whole request (Describe)
or for every user named (Alter, as Kafka's AlterUserScramCredentialsRequest.getErrorResponse). The admin client
salts the password; the request carries the salt and salted password, and the broker keeps only
the keys derived from them (brokercore.security.credentials).
"""

from kio.static.protocol import RequestPayload, ResponsePayload

from brokercore.errors import ClusterAuthorizationFailed
from brokercore.kafka.apis.registry import RequestContext, api
from brokercore.security.acl import CLUSTER_NAME, Operation, ResourceType
from brokercore.security.credentials import (
    Deletion,
    Upsertion,
    UserResult,
    scram_credentials_alter,
    scram_credentials_describe,
)

DESCRIBE_USER_SCRAM_CREDENTIALS = 50
ALTER_USER_SCRAM_CREDENTIALS = 51
# Errors.CLUSTER_AUTHORIZATION_FAILED's message, which Kafka's ApiError gives these responses.
NOT_AUTHORIZED = "Cluster authorization failed."


@api(DESCRIBE_USER_SCRAM_CREDENTIALS, versions=(0, 0))
async def describe_user_scram_credentials(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    if not await ctx.run_sync(ctx.requester.may, Operation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        return ctx.response(error_code=ClusterAuthorizationFailed.code, error_message=NOT_AUTHORIZED, results=[])
    names = [u.name for u in request.users] if request.users else None
    results = await ctx.run_sync(scram_credentials_describe, names)
    return ctx.response(error_code=0, error_message=None, results=[
        {"user": r.user, "error_code": r.error_code, "error_message": r.error_message,
         "credential_infos": [{"mechanism": c.mechanism.type, "iterations": c.iterations} for c in r.credentials]}
        for r in results
    ])


@api(ALTER_USER_SCRAM_CREDENTIALS, versions=(0, 0))
async def alter_user_scram_credentials(ctx: RequestContext, request: RequestPayload) -> ResponsePayload:
    if not await ctx.run_sync(ctx.requester.may, Operation.ALTER, ResourceType.CLUSTER, CLUSTER_NAME):
        names = sorted({d.name for d in request.deletions} | {u.name for u in request.upsertions})
        results = [UserResult(n, ClusterAuthorizationFailed.code, NOT_AUTHORIZED) for n in names]
    else:
        results = await ctx.run_sync(
            scram_credentials_alter,
            deletions=[Deletion(d.name, d.mechanism) for d in request.deletions],
            upsertions=[Upsertion(u.name, u.mechanism, u.iterations, u.salt, u.salted_password)
                        for u in request.upsertions],
        )
    return ctx.response(results=[
        {"user": r.user, "error_code": r.error_code, "error_message": r.error_message} for r in results
    ])
