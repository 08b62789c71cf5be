"""anon_inodefs: the one inode behind epoll, eventfd and timerfd files."""
