#!/usr/bin/python3
"""test_metrics_pages.py: one client address that floods relay-metrics
with valid page requests does not keep another address' scrape waiting
(man/relay-metrics.8, LIMITS: one page request per address building at
a time, its others wait their turn).

The pages are made slow the way a fleet makes them: rate_store is a
Redis behind a proxy that holds each reply DELAY, and a snapshot reads
the fleet's usage from it in turn (mon_data.c), a few round trips each.
127.0.2.9 opens 8 connections (MON_HTTP_CONN_PER_IP) and pipelines
GET / and GET /metrics on each, reading the answers as they come; a
scrape from 127.0.0.1 then answers 200 within about two snapshots' time
(before, it waited behind the 8 requests of the flooding address, one
snapshot each: 4 to 6 s where one takes 0.5 s), three times in a row,
and the flooding address is still served (its answers are 200s: it
waits, it is not refused)."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, check, finish, free_port,  # noqa: E402
                     no_sanitizer_report, wait_until)
from latencyproxy import LatencyProxy  # noqa: E402
from redisserver import TIMEOUT_MS, RedisServer  # noqa: E402
from test_metrics_http import SCRAPE, request  # noqa: E402

DELAY = 0.25           # each Redis reply held this long
CONNS = 8              # metrics/mon_http.h MON_HTTP_CONN_PER_IP
FLOOD_SRC = '127.0.2.9'
PAGE_REQS = (b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
             b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n') * 8


def drain(s, stop, seen):
    """Read and drop what s answers, counting its status lines."""
    tail = b''
    try:
        while not stop.is_set():
            c = s.recv(1 << 20)
            if not c:
                return
            data = tail + c
            seen['200'] += data.count(b'HTTP/1.1 200 ')
            seen['other'] += data.count(b'HTTP/1.1 ') - \
                data.count(b'HTTP/1.1 200 ')
            tail = data[-12:].rpartition(b'\n')[2]
    except OSError:
        pass


def page_flood(mport, stop, seen):
    """Page requests pipelined back to back on one kept-alive connection
    from FLOOD_SRC, the answers read by another thread, until stop."""
    while not stop.is_set():
        s = socket.socket()
        reader = None
        try:
            s.settimeout(30)
            s.bind((FLOOD_SRC, 0))
            s.connect(('127.0.0.1', mport))
            reader = threading.Thread(target=drain, daemon=True,
                                      args=(s, stop, seen))
            reader.start()
            while not stop.is_set():
                s.sendall(PAGE_REQS)
        except OSError:
            stop.wait(0.2)
        finally:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if reader:
                reader.join(10)
            s.close()


def snapshot_time(mport):
    """Seconds one scrape takes with nothing else under way."""
    line, took = request(mport, SCRAPE, timeout=30)
    check('an unhurried scrape answers 200 (%.2f s)' % took,
          line.endswith('200 OK'), line)
    return took


def flood(mport):
    alone = snapshot_time(mport)
    stop, seen = threading.Event(), {'200': 0, 'other': 0}
    threads = [threading.Thread(target=page_flood, daemon=True,
                                args=(mport, stop, seen))
               for _ in range(CONNS)]
    for t in threads:
        t.start()
    try:
        time.sleep(4 * alone + 1)  # every connection has requests waiting
        for which in ('first', 'second', 'third'):
            line, took = request(mport, SCRAPE, timeout=60)
            check('%d connections from %s pipelining page requests: the '
                  '%s scrape from 127.0.0.1 answers 200 in under 3 '
                  'snapshots\' time (%s in %.2f s, one alone %.2f s)' %
                  (CONNS, FLOOD_SRC, which, line, took, alone),
                  line.endswith('200 OK') and took < 3 * alone + 0.5,
                  line)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    check('the flooding address is served, not refused (%r)' % seen,
          seen['200'] > 0 and seen['other'] == 0, seen)


def main():
    with RedisServer() as redis, LatencyProxy(redis.port, DELAY) as px:
        mport = free_port()
        conf = {'rate_store': px.url(), 'rate_store_timeout': TIMEOUT_MS,
                'rate_store_prefix': 'pages%d:' % os.getpid(),
                'metrics_listen': '127.0.0.1:%d' % mport}
        inst = Instance(conf_overrides=conf)
        try:
            inst.prepare()
            redis.write_auth(inst.dir)
            inst.start()
            wait_until(lambda: 'serving on' in inst.log(), 20)
            flood(mport)
            no_sanitizer_report(inst)
        finally:
            inst.stop()
            inst.remove()
    return finish()


if __name__ == '__main__':
    sys.exit(main())
