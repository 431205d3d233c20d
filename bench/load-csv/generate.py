"""The load-csv benchmarks' file: ROWS rows of a 10-column property listing, as CSV on stdout (same rows as run.sh's)."""
import sys, random
random.seed(1)
n = int(sys.argv[1]); w = sys.stdout.write
w("property_id,address,city,state,zip,price,bedrooms,listed_on,owner,notes\n")
cities = ["Springfield", "Portland", "Austin", "Madison", "Raleigh", "Boise", "Tulsa"]
for i in range(1, n + 1):
    w(f"{i},{random.randint(1,9999)} Oak St,{random.choice(cities)},TX,{random.randint(10000,99999)},{random.randint(80,2000)*1000}.00,{random.randint(1,6)},2024-0{random.randint(1,9)}-1{random.randint(0,9)},Owner {i % 5000},\"note, with comma {i % 97}\"\n")
