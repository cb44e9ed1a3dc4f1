datacenter = "dc1"
ports {
  server = 8300;
}
