print("tmemd")
