ports = 8300
ports {
  server = 8300
}
