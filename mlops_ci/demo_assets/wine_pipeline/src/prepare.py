"""Pipeline step: split the registered wine data into train.csv and test.csv (stratified, reproducible)."""

import argparse
import csv
import os
from pathlib import Path

from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--raw", required=True, help="folder holding the registered CSV")
parser.add_argument("--test-size", type=float, required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()

source = next(Path(args.raw).rglob("*.csv"))
with open(source, newline="", encoding="utf-8") as handle:
    rows = list(csv.reader(handle))
header, data = rows[0], rows[1:]
labels = [row[-1] for row in data]
train, test = train_test_split(data, test_size=args.test_size, random_state=7, stratify=labels)
for name, part in (("train.csv", train), ("test.csv", test)):
    with open(os.path.join(args.out, name), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(part)
print(f"prepared {len(train)} training and {len(test)} test rows from {source.name}")
