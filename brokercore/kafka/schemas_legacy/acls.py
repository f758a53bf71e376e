"""DescribeAcls v0 (API key 29), CreateAcls v0 (30) and DeleteAcls v0 (31), from Kafka 3.9's
DescribeAcls*.json, CreateAcls*.json and DeleteAcls*.json: v1 added the pattern type (KIP-290,
prefixed ACLs), so v0 speaks of literal resource names only; removed in Kafka 4.0 (KIP-896)."""

from ._base import F, message

# An ACL filter: DescribeAcls' request is one, DeleteAcls' holds several.
FILTER = [
    F("resource_type_filter", "int8"),
    F("resource_name_filter", "string", nullable="0+"),
    F("pattern_type_filter", "int8", "1+", default=3),
    F("principal_filter", "string", nullable="0+"),
    F("host_filter", "string", nullable="0+"),
    F("operation", "int8"),
    F("permission_type", "int8"),
]

DESCRIBE_ACLS = message(29, "DescribeAcls", "0", request=FILTER, response=[
    F("throttle_time", "timedelta_i32"),
    F("error_code", "error_code"),
    F("error_message", "string", nullable="0+"),
    F("resources", "[]DescribeAclsResource", fields=[
        F("resource_type", "int8"),
        F("resource_name", "string"),
        F("pattern_type", "int8", "1+", default=3),
        F("acls", "[]AclDescription", fields=[
            F("principal", "string"),
            F("host", "string"),
            F("operation", "int8"),
            F("permission_type", "int8"),
        ]),
    ]),
])

CREATE_ACLS = message(30, "CreateAcls", "0", request=[
    F("creations", "[]AclCreation", fields=[
        F("resource_type", "int8"),
        F("resource_name", "string"),
        F("resource_pattern_type", "int8", "1+", default=3),
        F("principal", "string"),
        F("host", "string"),
        F("operation", "int8"),
        F("permission_type", "int8"),
    ]),
], response=[
    F("throttle_time", "timedelta_i32"),
    F("results", "[]AclCreationResult", fields=[
        F("error_code", "error_code"),
        F("error_message", "string", nullable="0+"),
    ]),
])

DELETE_ACLS = message(31, "DeleteAcls", "0", request=[
    F("filters", "[]DeleteAclsFilter", fields=FILTER),
], response=[
    F("throttle_time", "timedelta_i32"),
    F("filter_results", "[]DeleteAclsFilterResult", fields=[
        F("error_code", "error_code"),
        F("error_message", "string", nullable="0+"),
        F("matching_acls", "[]DeleteAclsMatchingAcl", fields=[
            F("error_code", "error_code"),
            F("error_message", "string", nullable="0+"),
            F("resource_type", "int8"),
            F("resource_name", "string"),
            F("pattern_type", "int8", "1+", default=3),
            F("principal", "string"),
            F("host", "string"),
            F("operation", "int8"),
            F("permission_type", "int8"),
        ]),
    ]),
])

ENTITIES = DESCRIBE_ACLS | CREATE_ACLS | DELETE_ACLS
