a = 1 b = 2, c = 3,
block { x = 1, y = 2, } other { z = [1, 2] }
s = "one" t = "two"
