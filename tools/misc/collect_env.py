"""Print the environment report.

Same as ``python -m mmosar.utils.collect_env``.
"""
from mmosar.utils.collect_env import main

if __name__ == '__main__':
    main()
