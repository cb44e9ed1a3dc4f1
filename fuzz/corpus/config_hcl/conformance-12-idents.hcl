with-dash   = 1
with.dots   = 2
_underscore = 3
MixedCase   = 4
a1b2        = 5
x-y.z_w     = 6
