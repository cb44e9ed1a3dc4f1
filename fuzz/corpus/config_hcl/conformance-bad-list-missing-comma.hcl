retry_join = [
  "a"
  "b"
]
