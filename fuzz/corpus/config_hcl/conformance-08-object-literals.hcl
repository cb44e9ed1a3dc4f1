# `a = { }` is an object literal; hcl shapes it like a block (a list of objects).
node_meta = {
  rack = "r1"
  zone = "z1"
}
meta = { a = "1", b = "2", }
empty = {}
nested = {
  inner = {
    x = 1
  }
  list = [{ y = 2 }, { z = 3 }]
}
node_meta = { extra = "yes" }
services = [
  { name = "web", port = 80 },
  { name = "db",  port = 5432 },
]
