{"config_entries": {"bootstrap": [{"kind": "proxy-defaults", "name": "global",
  "config": {"protocol": "http"}}]},
 "watches": [{"type": "key", "key": "x", "handler_type": "script"}],
 "a": {"b": {"c": {}, "d": {}}},
 "null_value": null}
