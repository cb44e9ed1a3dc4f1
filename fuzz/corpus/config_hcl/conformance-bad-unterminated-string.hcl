datacenter = "dc1"
node_name  = "n1
server     = true
