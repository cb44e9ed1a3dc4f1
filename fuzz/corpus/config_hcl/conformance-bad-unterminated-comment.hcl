datacenter = "dc1"
/* the rest is
   commented out
server = true
