import { describe, expect, it } from 'vitest';
import type { InstanceRecord } from '../../infra/local/engines/driver.ts';
import { accountHostOf, customerHosts, hostRulesSql } from '../../infra/local/engines/mysql/hosts.ts';

const record = (networking?: InstanceRecord['networking']) =>
  ({ username: 'app', networking }) as unknown as InstanceRecord;

describe('MariaDB host rules (local networking)', () => {
  it.each([
    ['203.0.113.7/32', '203.0.113.7'],
    ['198.51.100.0/24', '198.51.100.0/255.255.255.0'],
    ['10.0.0.0/8', '10.0.0.0/255.0.0.0'],
    ['172.16.0.0/12', '172.16.0.0/255.240.0.0'],
    ['0.0.0.0/0', '0.0.0.0/0.0.0.0'],
  ])('writes %s as the account host %s', (cidr, host) => {
    expect(accountHostOf(cidr)).toBe(host);
  });

  it('opens 127.0.0.1 only while private, whatever the allow list says', () => {
    expect(customerHosts(record())).toEqual(['127.0.0.1']);
    expect(customerHosts(record({ tls: true, public: false, allow: ['10.0.0.0/8'] }))).toEqual(['127.0.0.1']);
    expect(customerHosts(record({ tls: true, public: true, allow: ['10.0.0.0/8', '127.0.0.1/32'] }))).toEqual(
      ['127.0.0.1', '10.0.0.0/255.0.0.0'],
    );
  });

  it('copies both logins to each allowed source and locks every other account of theirs', () => {
    const sql = hostRulesSql(record({ tls: true, public: true, allow: ['10.0.0.0/8'] })).join('\n');
    expect(sql).toContain(
      "INSERT INTO mysql.global_priv (Host, User, Priv) SELECT '10.0.0.0/255.0.0.0', User, Priv FROM mysql.global_priv WHERE User IN ('app', 'app_2') AND Host = '127.0.0.1';",
    );
    expect(sql).toContain(
      "WHERE User IN ('app', 'app_2') AND Host NOT IN ('127.0.0.1', '10.0.0.0/255.0.0.0');",
    );
    expect(sql.trim().endsWith('FLUSH PRIVILEGES;')).toBe(true);
    // Private: no copies at all, only the lock of every account but 127.0.0.1.
    const closed = hostRulesSql(record()).join('\n');
    expect(closed).not.toContain('INSERT INTO mysql.global_priv');
    expect(closed).toContain("AND Host NOT IN ('127.0.0.1');");
  });
});
