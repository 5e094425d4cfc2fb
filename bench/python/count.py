#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench/python/count.py: asyncio's count demo (the asyncio docs' example, which
# examples/count.cpp reproduces), for W3.
import asyncio
import time


async def count():
    print("One")
    await asyncio.sleep(1)
    print("Two")


async def main():
    await asyncio.gather(count(), count(), count())


if __name__ == "__main__":
    s = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - s
    print(f"count executed in {elapsed:0.2f} seconds.")
