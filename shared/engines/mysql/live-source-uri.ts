/** The connection strings a MySQL live import takes (MySQL or MariaDB servers), and the default port. */
export const MYSQL_LIVE_SOURCE = { schemes: ['mysql', 'mariadb'], defaultPort: 3306 } as const;
