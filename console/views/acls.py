"""ACLs: list them (filtered by principal and resource), add and remove them (staff), and check
what a user may do on a topic, group, transactional id or the cluster, and which rule decided.

The ACLs are brokercore's (brokercore/security/acl.py), the same the Kafka listener and REST v3
list and change. Looking needs DESCRIBE on the cluster from the authorizer (as DescribeAcls does);
changing needs staff, as every console change does. The rules (what an ACL may be, what applies)
are brokercore's: the forms only carry fields to acl_binding_validate / acls_create and back.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from brokercore.coordinator.read import group_list
from brokercore.errors import BrokerError
from brokercore.security.acl import (
    CLUSTER_NAME,
    READ_WRITE,
    WILDCARD,
    WILDCARD_PRINCIPAL,
    AclBinding,
    AclFilter,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    acl_order,
    acls_create,
    acls_delete,
    acls_describe,
    authorization_explain,
)
from brokercore.security.principal import Principal
from brokercore.topics.read import topic_names_list
from console.principals import requester
from console.views._common import HtmxHttpRequest, staff_required

TEMPLATE = "console/acls.html"
# The resource types people write ACLs for (Kafka's delegation-token and user ACLs have no use here).
RESOURCE_TYPES = (ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER, ResourceType.TRANSACTIONAL_ID)
OPERATIONS = tuple(op for op in Operation if op not in (Operation.UNKNOWN, Operation.ANY))
SUGGESTIONS_MAX = 500  # names offered in the pages' pickers; anything else may still be typed


def _choices(members: tuple) -> list[tuple[str, str]]:
    return [(m.name, m.name) for m in members]


class AclForm(forms.Form):
    """One ACL, as the add form and each Remove button send it. Names are not required here:
    brokercore says, in Kafka's words, why an empty one is refused."""

    resource_type = forms.ChoiceField(choices=_choices(RESOURCE_TYPES))
    pattern_type = forms.ChoiceField(choices=_choices((PatternType.LITERAL, PatternType.PREFIXED)))
    resource_name = forms.CharField(required=False)
    principal = forms.CharField(required=False)
    host = forms.CharField(required=False)
    operation = forms.ChoiceField(choices=_choices(OPERATIONS))
    permission = forms.ChoiceField(choices=_choices((Permission.ALLOW, Permission.DENY)))

    def binding(self) -> AclBinding:
        d = self.cleaned_data
        resource_type = ResourceType[d["resource_type"]]
        # The cluster has one name; an empty name field means it.
        name = d["resource_name"] or (CLUSTER_NAME if resource_type == ResourceType.CLUSTER else "")
        return AclBinding(resource_type, name, PatternType[d["pattern_type"]], d["principal"], d["host"] or WILDCARD,
                          Operation[d["operation"]], Permission[d["permission"]])


class FilterForm(forms.Form):
    """Which ACLs the list shows: a principal's, and those that apply to a resource (Kafka's MATCH
    filter: the literal name, `*`, and the prefixes of the name)."""

    principal = forms.CharField(required=False)
    type = forms.ChoiceField(choices=[("", "any type"), *_choices(RESOURCE_TYPES)], required=False)
    resource = forms.CharField(required=False)

    def acl_filter(self) -> AclFilter:
        d = self.cleaned_data if self.is_valid() else {}
        name = d.get("resource") or None
        return AclFilter(
            resource_type=ResourceType[d["type"]] if d.get("type") else ResourceType.ANY, resource_name=name,
            pattern_type=PatternType.MATCH if name else PatternType.ANY, principal=d.get("principal") or None,
        )


class CheckForm(forms.Form):
    """Whose rights on which resource the checker explains, and from which client address."""

    user = forms.ChoiceField()
    resource_type = forms.ChoiceField(choices=_choices(RESOURCE_TYPES), initial=ResourceType.TOPIC.name)
    name = forms.CharField(required=False)
    host = forms.CharField(required=False)

    def __init__(self, *args, usernames: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [(u, u) for u in usernames]

    def clean(self) -> dict:
        d = super().clean()
        if d.get("resource_type") == ResourceType.CLUSTER.name:
            d["name"] = CLUSTER_NAME
        elif "resource_type" in d and not d.get("name"):
            self.add_error("name", f"Name the {d['resource_type'].lower().replace('_', ' ')} to check.")
        return d


def _require_describe(request: HtmxHttpRequest) -> None:
    """Seeing ACLs needs DESCRIBE on the cluster (Kafka's DescribeAcls): 403 page otherwise."""
    r = requester(request)
    if not r.may(Operation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        raise PermissionDenied(r.refusal(Operation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME))


def _users() -> list:
    return list(get_user_model().objects.filter(is_active=True).order_by("username")[:SUGGESTIONS_MAX])


def _table(data: dict, *, added: AclBinding | None = None, oob: bool = False) -> dict:
    """The list's context, filtered by `data` (the filter form's fields)."""
    filter_form = FilterForm(data)
    acl_filter = filter_form.acl_filter()
    return {
        "acls": sorted(acls_describe(acl_filter), key=acl_order),
        "filter_form": filter_form,
        "filtered": acl_filter != AclFilter(),
        "added": added,
        "oob": oob,
        **_no_match(),
    }


def _page(request: HtmxHttpRequest, *, form: AclForm | None = None, check: CheckForm | None = None,
          status: int = 200, added: AclBinding | None = None) -> HttpResponse:
    users = _users()
    usernames = [u.get_username() for u in users]
    check = check or CheckForm(usernames=usernames, initial={"user": request.user.get_username()})
    context = {
        **_table(request.GET, added=added),
        **_add_context(form, usernames),
        **_check_context(check, users),
        "users": users,
        "topic_names": topic_names_list()[:SUGGESTIONS_MAX],
        "group_ids": [g.group_id for g in group_list()[:SUGGESTIONS_MAX]],
    }
    return render(request, TEMPLATE, context, status=status)


def _no_match() -> dict:
    rule = settings.BROKER["ACL_NO_MATCH"]
    return {"no_match": rule, "no_match_allows": [op.name for op in sorted(READ_WRITE)] if rule == "read-write" else []}


def _check_context(check: CheckForm, users: list) -> dict:
    """The checker's form and, when it was asked and is valid, the authorizer's decisions."""
    decisions = None
    if check.is_bound and check.is_valid():
        d = check.cleaned_data
        user = next(u for u in users if u.get_username() == d["user"])
        decisions = authorization_explain(Principal(d["user"], user.pk), d["host"], ResourceType[d["resource_type"]],
                                          d["name"])
    return {"check_form": check, "decisions": decisions,
            "decision_rules": {x.rule.name for x in decisions or ()}, **_no_match()}


@require_GET
@login_required
def acl_list(request: HtmxHttpRequest) -> HttpResponse:
    _require_describe(request)
    if request.htmx and request.htmx.target == "acl-table":  # the filter, as you type
        return render(request, TEMPLATE + "#table", _table(request.GET))
    return _page(request)


@require_GET
@login_required
def acl_check(request: HtmxHttpRequest) -> HttpResponse:
    """The checker: the page with its answer (an htmx request gets the answer alone)."""
    _require_describe(request)
    users = _users()
    check = CheckForm(request.GET or None, usernames=[u.get_username() for u in users])
    if request.htmx:
        return render(request, TEMPLATE + "#check", _check_context(check, users))
    return _page(request, check=check, status=400 if check.is_bound and not check.is_valid() else 200)


@require_POST
@staff_required
def acl_new(request: HtmxHttpRequest) -> HttpResponse:
    form = AclForm(request.POST, prefix="new")
    if form.is_valid():
        binding = form.binding()
        (error,) = acls_create(bindings=[binding])
        if error is not None:
            form.add_error(None, error.message)
    if form.errors:
        if request.htmx:  # htmx leaves 4xx responses unswapped: the form with its errors is a 200
            return render(request, TEMPLATE + "#add", _add_context(form))
        return _page(request, form=form, status=400)
    if request.htmx:
        # A fresh form, and the list (as filtered) with the new ACL marked.
        return render(request, TEMPLATE + "#changed",
                      {**_add_context(None), **_table(request.POST, added=binding, oob=True)})
    messages.success(request, f"Added: {_describe(binding)}.")
    return redirect("acl_list")


def _add_context(form: AclForm | None, usernames: list[str] | None = None) -> dict:
    """The add form's context: a fresh form (TOPIC, LITERAL, ALLOW from any host) unless `form`."""
    if usernames is None:
        usernames = [u.get_username() for u in _users()]
    return {
        "form": form or AclForm(prefix="new", initial={"host": WILDCARD, "resource_type": "TOPIC",
                                                       "pattern_type": "LITERAL", "permission": "ALLOW"}),
        "principals": [WILDCARD_PRINCIPAL, *(f"User:{u}" for u in usernames)],
        "cluster_name": CLUSTER_NAME,
    }


@require_POST
@staff_required
def acl_remove(request: HtmxHttpRequest) -> HttpResponse:
    form = AclForm(request.POST, prefix="acl")
    if not form.is_valid():
        return HttpResponse("Not an ACL: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()),
                        status=400, content_type="text/plain")
    b = form.binding()
    # Exactly this ACL: every field literal, so the filter matches it and nothing else.
    (result,) = acls_delete(filters=[AclFilter(b.resource_type, b.resource_name, b.pattern_type, b.principal, b.host,
                                               b.operation, b.permission)])
    if isinstance(result, BrokerError):
        return HttpResponse(result.message, status=400, content_type="text/plain")
    if request.htmx:
        return render(request, TEMPLATE + "#table", _table(request.POST))
    if result:
        messages.success(request, f"Removed: {_describe(b)}.")
    else:
        messages.info(request, f"Already gone: {_describe(b)}.")
    return redirect("acl_list")


def _describe(b: AclBinding) -> str:
    return (f"{b.permission.name} {b.principal} {b.operation.name} on {b.resource_type.name} "
            f"{b.pattern_type.name.lower()} “{b.resource_name}” from {b.host}")
