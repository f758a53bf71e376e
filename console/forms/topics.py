"""Forms of the topics pages. They parse what was typed; Kafka's rules stay in brokercore.

A view calls the service with the cleaned values and, when it refuses, `broker_error_add` puts
Kafka's message on the field it concerns, so the page shows the broker's own words.
"""

import base64
import binascii
import json
from typing import Any

from django import forms

from brokercore.configdef import ConfigEntry, ConfigType, choices_of
from brokercore.errors import BrokerError, InvalidConfig
from brokercore.topics.config_table import TOPIC_KEYS
from brokercore.topics.configs import config_value_parse
from brokercore.types import RecordIn

CONFIG_SYNTAX = "One name=value a line."


def broker_error_add(form: forms.Form, error: BrokerError, fields: dict[type, str]) -> None:
    """Attach a refused change to the field of `fields` its class maps to (else the whole form)."""
    field = next((f for cls, f in fields.items() if isinstance(error, cls)), None)
    form.add_error(field, f"{error.message} ({error.name})")


def _pairs_parse(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """'name=value' lines (blank lines skipped) -> pairs and per-line errors."""
    pairs, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            errors.append(f"Line {number}: expected name=value, got “{line.strip()}”.")
            continue
        pairs.append((name.strip(), value.strip()))
    return pairs, errors


class TopicCreateForm(forms.Form):
    # Not required: an empty name gets Kafka's own "can't be empty" from the broker.
    name = forms.CharField(required=False, widget=forms.TextInput(attrs={
        "autocomplete": "off", "spellcheck": "false", "placeholder": "orders", "autofocus": True}))
    partitions = forms.IntegerField(initial=3, widget=forms.NumberInput(attrs={"min": 1}))
    replication_factor = forms.IntegerField(initial=1, widget=forms.NumberInput(attrs={"min": 1}))
    configs = forms.CharField(required=False, widget=forms.Textarea(attrs={
        "rows": 3, "spellcheck": "false", "placeholder": "retention.ms=86400000\ncleanup.policy=compact"}))

    def clean_configs(self) -> dict[str, str]:
        pairs, errors = _pairs_parse(self.cleaned_data["configs"])
        configs = {}
        for name, value in pairs:
            try:
                configs[name] = config_value_parse(name, value)
            except InvalidConfig as e:
                errors.append(f"{e.message} ({e.name})")
        if errors:
            raise forms.ValidationError(errors)
        return configs


class TopicConfigsForm(forms.Form):
    """One field per topic config: a value sets an override, blank means the default (the
    broker's, else Kafka's: `defaults`, the entries of a topic without overrides)."""

    def __init__(self, *args: Any, overrides: dict[str, str], defaults: list[ConfigEntry], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.overrides = overrides
        default_of = {e.name: e.value for e in defaults}
        for name, key in TOPIC_KEYS.items():
            default = default_of[name]
            choices = choices_of(key)
            if key.type == ConfigType.BOOLEAN:
                choices = ("true", "false")
            if choices:
                options = [(c, c) for c in choices]
                if key.type == ConfigType.LIST:
                    options.append((",".join(choices), ",".join(choices)))
                current = overrides.get(name)
                if current is not None and current not in dict(options):
                    options.append((current, current))  # as stored (e.g. "delete,compact"), so it stays selected
                widget = forms.Select(choices=[("", f"default ({default})"), *options])
            else:
                numeric = key.type in (ConfigType.INT, ConfigType.LONG, ConfigType.SHORT, ConfigType.DOUBLE)
                attrs = {"placeholder": f"default: {default}", "spellcheck": "false"}
                if numeric:
                    attrs["inputmode"] = "decimal" if key.type == ConfigType.DOUBLE else "numeric"
                widget = forms.TextInput(attrs=attrs)
            # A CharField even for choices, so an odd value reaches the broker and gets its message.
            field = forms.CharField(required=False, initial=overrides.get(name, ""), widget=widget)
            field.doc, field.default = key.doc, default
            field.overridden = name in overrides
            self.fields[name] = field

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.set_configs, self.delete_configs = {}, []
        for name in TOPIC_KEYS:
            value = (data.get(name) or "").strip()
            if not value:
                if name in self.overrides:
                    self.delete_configs.append(name)
                continue
            try:
                canonical = config_value_parse(name, value)
            except InvalidConfig as e:
                self.add_error(name, f"{e.message} ({e.name})")
                continue
            if self.overrides.get(name) != canonical:
                self.set_configs[name] = canonical
        return data

    @property
    def changed(self) -> bool:
        return bool(self.set_configs or self.delete_configs)


class PartitionsAddForm(forms.Form):
    count = forms.IntegerField(label="New partition count", widget=forms.NumberInput(attrs={"min": 1}))


VALUE_TYPES = [("text", "Text"), ("json", "JSON"), ("base64", "Base64"), ("null", "Null (tombstone)")]


class ProduceForm(forms.Form):
    key = forms.CharField(required=False, strip=False, widget=forms.TextInput(attrs={
        "autocomplete": "off", "spellcheck": "false", "placeholder": "none: round-robin"}))
    value_type = forms.ChoiceField(choices=VALUE_TYPES, initial="text", widget=forms.RadioSelect)
    value = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}))
    headers = forms.CharField(required=False, widget=forms.Textarea(attrs={
        "rows": 2, "spellcheck": "false", "placeholder": "trace-id=abc123"}))
    partition = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, partitions: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["partition"].choices = [("", "auto: by key, or round-robin"), *((i, str(i)) for i in range(partitions))]

    def clean_value(self) -> bytes | None:
        text, kind = self.cleaned_data["value"], self.cleaned_data.get("value_type", "text")
        if kind == "json":
            try:
                json.loads(text)
            except json.JSONDecodeError as e:
                raise forms.ValidationError(f"Invalid JSON: {e}.") from None
            return text.strip().encode()
        if kind == "base64":
            try:
                return base64.b64decode("".join(text.split()), validate=True)
            except (binascii.Error, ValueError) as e:
                raise forms.ValidationError(f"Invalid base64: {e}.") from None
        if kind == "null":
            if text.strip():
                raise forms.ValidationError("A null value has no content: clear the value or choose another type.")
            return None
        return text.encode()

    def clean_headers(self) -> tuple[tuple[str, bytes], ...]:
        pairs, errors = _pairs_parse(self.cleaned_data["headers"])
        if errors:
            raise forms.ValidationError(errors)
        return tuple((name, value.encode()) for name, value in pairs)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            key = data.get("key") or None
            self.record = RecordIn(key=None if key is None else key.encode(), value=data["value"], headers=data["headers"])
        return data


class TopicDeleteForm(forms.Form):
    confirm = forms.CharField(label="Type the topic's name to confirm", required=False, strip=True,
                              widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))

    def __init__(self, *args: Any, topic: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.topic = topic

    def clean_confirm(self) -> str:
        if self.cleaned_data["confirm"] != self.topic:
            raise forms.ValidationError(f"Type the topic's name, {self.topic}, exactly to delete it.")
        return self.cleaned_data["confirm"]
