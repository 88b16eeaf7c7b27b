"""Print the environment report (same as ``python -m mmosar.utils.collect_env``)."""
from mmosar.utils.collect_env import main

if __name__ == '__main__':
    main()
