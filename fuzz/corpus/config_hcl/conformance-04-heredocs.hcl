script = <<EOT
#!/bin/sh
echo "hello ${node}" \n not an escape
EOT

indented = <<-EOT
    line one
      line two
    EOT

mixed = <<-EOT
    line one
  less indented
    EOT

empty = <<EOF
EOF

keeps_indent = <<EOF
  a
  EOF

in_list = [<<A
first
A
, <<-B
  second
  B
]

after = "still parsed"
