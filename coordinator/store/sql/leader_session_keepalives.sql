-- The leader lock's session, on the server's side: end it (and free the
-- lock) within about 25 s when its client vanishes without closing it.
SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3
