import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ownDefinersExpression } from '#shared/jobs/mysql/dump-tool.ts';

/** What the restore's sed filter makes of `lines` for the restoring user `username`. */
const filtered = (username: string, lines: string[]): string[] => {
  const run = spawnSync('sed', ['-E', '-e', ownDefinersExpression(username)], {
    input: `${lines.join('\n')}\n`,
    encoding: 'utf8',
  });
  expect(run.status, run.stderr).toBe(0);
  return run.stdout.trimEnd().split('\n');
};

describe("a MySQL restore's DEFINER filter", () => {
  it("makes the customer's own logins, from any host and its rotation twin, the restoring user", () => {
    expect(
      filtered('shop', [
        '/*!50013 DEFINER=`shop`@`%` SQL SECURITY DEFINER */',
        '/*!50003 CREATE*/ /*!50017 DEFINER=`shop`@`198.51.100.0/255.255.255.0`*/ /*!50003 TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = 1 */;;',
        'CREATE DEFINER=`shop_2`@`127.0.0.1` PROCEDURE `p`()',
        '/*!50106 CREATE*/ /*!50117 DEFINER=`shop`@`127.0.0.1`*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY DO SELECT 1 */ ;;',
      ]),
    ).toEqual([
      '/*!50013 DEFINER=CURRENT_USER SQL SECURITY DEFINER */',
      '/*!50003 CREATE*/ /*!50017 DEFINER=CURRENT_USER*/ /*!50003 TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = 1 */;;',
      'CREATE DEFINER=CURRENT_USER PROCEDURE `p`()',
      '/*!50106 CREATE*/ /*!50117 DEFINER=CURRENT_USER*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY DO SELECT 1 */ ;;',
    ]);
  });

  it('leaves other accounts and every row of data alone', () => {
    const lines = [
      '/*!50013 DEFINER=`someone_else`@`%` SQL SECURITY DEFINER */',
      '/*!50013 DEFINER=`shopper`@`%` SQL SECURITY DEFINER */',
      "INSERT INTO `notes` VALUES (1,'DEFINER=`shop`@`%`');",
    ];
    expect(filtered('shop', lines)).toEqual(lines);
  });

  it('knows the owner when the published login is the twin', () => {
    expect(filtered('shop_2', ['CREATE DEFINER=`shop`@`%` FUNCTION `f`() RETURNS int RETURN 1'])).toEqual([
      'CREATE DEFINER=CURRENT_USER FUNCTION `f`() RETURNS int RETURN 1',
    ]);
  });
});
