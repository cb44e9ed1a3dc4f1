service "web" {
  port = 80
  tags = ["v1", "primary"]
}

service "api" {
  port = 8080
}

service "web" {
  port = 81
}

# Any number of labels, quoted or bare.
config_entries "proxy-defaults" global {
  protocol = "http"
}

watches "key" "service" "db" {
  handler = "/bin/true"
}

"quoted" "labels" {
  ok = true
}
