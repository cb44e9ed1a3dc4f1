# Repeated keys of different shapes that hcl still decodes.
list = [1]
list { x = 1 }
port = 1
port = "2"
name = "x"
name = 5
ratio = 1.5
ratio = 2
blocks = [{ a = 1 }]
blocks { b = 2 }
blocks = { c = 3 }
