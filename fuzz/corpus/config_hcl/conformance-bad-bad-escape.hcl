datacenter = "dc1"
data_dir   = "C:\data"
