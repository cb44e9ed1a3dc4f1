  {
  "service": {"web": {"port": 80}, "api": {"port": 8080}},
  "services": [{"name": "web", "port": 80}, {"name": "db", "tags": ["a", "b"]}],
  "node_meta": {"rack": "r1"},
  "nested": {"a": {"b": {"c": 1}}},
  "lists_in_objects": {"x": [{"y": 1}, {"y": 2}], "z": 1},
  "escapes": "tab\t quote\" unicode \u00e9 slash\\",
  "floats": [1.0, 2.5e3, -0.25],
  "dup": 1,
  "dup": 2
}
