print("This is my Docker demo!")
