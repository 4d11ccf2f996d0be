#!/usr/bin/python3
"""test_metrics_page.py: relay-metrics' status page in a real browser
(Debian's headless Chromium driven by chromedriver through selenium):

- the page loads and lists the daemons;
- its customers table shows the numbers `relayctl stats` prints;
- the log search, filled in and submitted in the browser, finds a message
  by its queue id, with the same lines as `relayctl log --id`;
- a HELO name with HTML in it is shown as text, not markup.
The log search needs credentials (metrics_passwd): the browser sends
them on every request.
"""
import base64
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, free_port,  # noqa: E402
                     skip, smtp_session, wait_until)
from test_metrics import passwd_file  # noqa: E402

RULES = """\
customer one licenses=10 paid=yes
domain one.example customer=one
rule one lo senders=domain auth=ip
ip one lo 127.0.0.1/32
"""
TAG = '<b>x</b>'  # a HELO name: logged, shown decoded


def browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = '/usr/bin/chromium'
    for a in ('--headless', '--no-sandbox', '--disable-gpu',
              '--disable-dev-shm-usage', '--user-data-dir=' + profile):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'),
                              options=opts)
    # metrics_passwd's user on every request, as a logged-in operator
    driver.execute_cdp_cmd('Network.enable', {})
    driver.execute_cdp_cmd('Network.setExtraHTTPHeaders', {'headers': {
        'Authorization': 'Basic ' + base64.b64encode(b'ops:secret').decode()}})
    return driver


def send(port, rcpt, helo='client.test'):
    s = smtp_session(port)
    try:
        s.ehlo(helo)
        s.sendmail('a@one.example', [rcpt], b'Subject: m\r\n\r\nhello\r\n')
    finally:
        s.quit()


def cells(driver, table):
    from selenium.webdriver.common.by import By
    rows = driver.find_elements(By.CSS_SELECTOR, 'table#%s tr' % table)
    return [[c.text for c in r.find_elements(By.TAG_NAME, 'td')]
            for r in rows[1:]]


def run(inst, base, driver):
    from selenium.webdriver.common.by import By
    driver.get(base + '/')
    check('page: loads with a title', 'relaybox status' in driver.title,
          driver.title)
    names = [r[0] for r in cells(driver, 'daemons')]
    check('page: lists the daemons',
          'relay-listen' in names and 'relay-send' in names, str(names))
    stats = inst.relayctl('stats', '--customer', 'one')
    m = re.search(r'rcpts_24h=(\S+) rcpts_10m=(\S+)', stats.stdout)
    rows = {r[0]: r for r in cells(driver, 'customers')}
    check('page: customer one shown', 'one' in rows, str(rows))
    check('page: the same numbers as relayctl stats',
          m and 'one' in rows and rows['one'][1:3] == [m.group(1),
                                                       m.group(2)],
          '%s vs %s' % (stats.stdout, rows.get('one')))
    log = inst.log()
    q = re.search(r'relay-queue\[\d+\]: info: ([0-9A-F]+): from=<a@one', log)
    check('page: a queue id in the log', q, inst.log_tail())
    if not q:
        return
    qid = q.group(1)
    driver.get(base + '/log')
    driver.find_element(By.ID, 'id').send_keys(qid)
    driver.find_element(By.ID, 'search').click()
    wait_until(lambda: driver.find_elements(By.ID, 'lines'), 10)
    shown = driver.find_element(By.ID, 'lines').text.splitlines()
    ctl = inst.relayctl('log', '--id', qid).stdout.splitlines()
    check('log search: finds the message by queue id',
          shown and all(qid in line for line in shown), str(shown))
    check('log search: its delivery line too',
          any('status=sent' in line for line in shown), str(shown))
    check('log search: the same lines as relayctl log --id',
          [x.strip() for x in shown] == [x.strip() for x in ctl],
          '%s\n---\n%s' % (shown, ctl))
    driver.get(base + '/log?to=' + 'html%40example.org')
    text = driver.find_element(By.ID, 'lines').text
    check('log search: HTML in a line is shown as text',
          TAG in text and not driver.find_elements(
              By.CSS_SELECTOR, '#lines b'), text)


def main():
    if not os.path.exists('/usr/bin/chromedriver'):
        skip('page', 'chromium-driver is not installed')
        return
    mport = free_port()
    profile = tempfile.mkdtemp(prefix='relaybox-chromium-')
    driver = None
    pw = os.path.join(profile, 'metrics.passwd')
    try:
        passwd_file(pw)
        with Sink() as sink, Instance(sink=sink, rules_text=RULES,
                                      conf_overrides={
                                          'metrics_listen':
                                          '127.0.0.1:%d' % mport,
                                          'metrics_passwd': pw}) as inst:
            for i in range(3):
                send(inst.port, 'r%d@example.org' % i)
            send(inst.port, 'html@example.org', TAG)
            check('page: delivered', sink.wait_for(4, 30), inst.log_tail())
            check('page: logged', inst.wait_log(r'to=<html@example.org>.*'
                                                r'status=sent', 20))
            driver = browser(profile)
            run(inst, 'http://127.0.0.1:%d' % mport, driver)
    finally:
        if driver:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == '__main__':
    main()
    finish()
