"""A MariaDB/MySQL database per test for the MailWizz quota sync, with MailWizz 2.x's tables.

Like tests/support/backends.py: the server is SLUICE_TEST_MYSQL (default
root without a password on 127.0.0.1:3306, which scripts/test.sh starts);
each test gets a database of its own, dropped after it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from tests.support import backends

MYSQL_URL = os.environ.get("SLUICE_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")

# MailWizz 2.2.11's `delivery_server` and `delivery_server_usage_log`
# (apps/common/data/install-sql/schema.sql), prefix "mw_".
DELIVERY_SERVER = """
CREATE TABLE `mw_delivery_server` (
  `server_id` int(11) NOT NULL AUTO_INCREMENT,
  `customer_id` INT(11) NULL DEFAULT NULL,
  `bounce_server_id` int(11) NULL,
  `tracking_domain_id` int(11) NULL,
  `warmup_plan_id` int(11) NULL,
  `type` char(20) NOT NULL,
  `name` varchar(255) NULL,
  `hostname` varchar(255) NOT NULL,
  `username` varchar(255) NOT NULL,
  `password` varchar(255) NULL,
  `port` int(5) NULL DEFAULT '25',
  `protocol` char(10) NULL,
  `timeout` int(3) NULL DEFAULT '30',
  `from_email` varchar(255) NOT NULL,
  `from_name` varchar(255) NULL,
  `reply_to_email` VARCHAR(255) NULL DEFAULT NULL,
  `probability` int(3) NOT NULL DEFAULT '100',
  `hourly_quota` int(11) NOT NULL DEFAULT '0',
  `daily_quota` int(11) NOT NULL DEFAULT '0',
  `monthly_quota` int(11) NOT NULL DEFAULT '0',
  `pause_after_send` int(11) NOT NULL DEFAULT '0',
  `meta_data` blob,
  `confirmation_key` char(40) NULL,
  `locked` enum('yes', 'no') NOT NULL DEFAULT 'no',
  `use_for` CHAR(15) NOT NULL DEFAULT 'all',
  `signing_enabled` enum('yes', 'no') NOT NULL DEFAULT 'yes',
  `force_from` VARCHAR(50) NOT NULL DEFAULT 'never',
  `force_reply_to` VARCHAR(50) NOT NULL DEFAULT 'never',
  `force_sender` enum('yes', 'no') NOT NULL DEFAULT 'no',
  `must_confirm_delivery` ENUM('yes','no') NOT NULL DEFAULT 'no',
  `max_connection_messages` INT(11) NOT NULL DEFAULT '1',
  `status` char(15) NOT NULL DEFAULT 'inactive',
  `date_added` datetime NOT NULL,
  `last_updated` datetime NOT NULL,
  PRIMARY KEY (`server_id`),
  KEY `fk_delivery_server_bounce_server1_idx` (`bounce_server_id`),
  KEY `idx_gen0` (`status`, `hourly_quota`, `probability`),
  KEY `fk_delivery_server_customer1_idx` (`customer_id`),
  KEY `fk_delivery_server_tracking_domain1_idx` (`tracking_domain_id`),
  KEY `fk_delivery_server_ds_warmup_plan1_idx` (`warmup_plan_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
"""
USAGE_LOG = """
CREATE TABLE `mw_delivery_server_usage_log` (
  `log_id` bigint(20) NOT NULL AUTO_INCREMENT,
  `server_id` int(11) DEFAULT NULL,
  `customer_id` int(11) DEFAULT NULL,
  `delivery_for` char(15) NOT NULL DEFAULT 'system',
  `customer_countable` enum('yes','no') NOT NULL DEFAULT 'yes',
  `date_added` datetime NOT NULL,
  PRIMARY KEY (`log_id`),
  KEY `fk_delivery_server_usage_log_delivery_server1_idx` (`server_id`),
  KEY `server_date` (`server_id`,`date_added`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
"""


def _with_database(url: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def _connect(url: str, database: str | None = None) -> Any:
    import aiomysql

    from conf.schema.mailwizz import MysqlDsn

    dsn = MysqlDsn.parse(url)
    return await aiomysql.connect(
        host=dsn.host,
        port=dsn.port,
        user=dsn.user,
        password=dsn.password,
        db=database or dsn.database,
        autocommit=True,
    )


@asynccontextmanager
async def mailwizz_database() -> AsyncIterator[MailwizzDb]:
    """A fresh database with MailWizz's two tables; dropped on the way out."""
    name = f"sluice_test_{backends.RUN_ID}_{secrets.token_hex(2)}"
    admin = await _connect(MYSQL_URL)
    try:
        async with admin.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{name}`")
        conn = await _connect(MYSQL_URL, name)
        try:
            async with conn.cursor() as cur:
                await cur.execute("SET time_zone = '+00:00'")  # as MailWizz's connections
                await cur.execute(DELIVERY_SERVER)
                await cur.execute(USAGE_LOG)
            yield MailwizzDb(_with_database(MYSQL_URL, name), conn)
        finally:
            conn.close()
            async with admin.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.close()


class MailwizzDb:
    """MailWizz's side of the tests: add servers, log sends, read a server back."""

    def __init__(self, url: str, conn: Any) -> None:
        self.url = url
        self.conn = conn

    async def add_server(
        self, server_id: int, *, status: str = "active", plan: int | None = None, hourly=0, daily=0
    ) -> None:
        await self.execute(
            "INSERT INTO mw_delivery_server (server_id, warmup_plan_id, type, name, hostname,"
            " username, from_email, hourly_quota, daily_quota, status, date_added, last_updated)"
            " VALUES (%s, %s, 'smtp', 'sluice', 'sluice.example', 'acme', 'a@a.example',"
            " %s, %s, %s, NOW(), NOW())",
            (server_id, plan, hourly, daily, status),
        )

    async def log_sends(self, server_id: int, count: int, at: datetime | None = None) -> None:
        """MailWizz's usage log: one row per message sent through the server."""
        when = "NOW()" if at is None else "%s"
        for _ in range(count):
            args = (server_id,) if at is None else (server_id, at)
            await self.execute(
                "INSERT INTO mw_delivery_server_usage_log (server_id, delivery_for, date_added)"
                f" VALUES (%s, 'campaign', {when})",
                args,
            )

    async def server(self, server_id: int) -> tuple[str, int, int]:
        """(status, hourly_quota, daily_quota)"""
        async with self.conn.cursor() as cur:
            await cur.execute(
                "SELECT status, hourly_quota, daily_quota FROM mw_delivery_server"
                " WHERE server_id = %s",
                (server_id,),
            )
            status, hourly, daily = await cur.fetchone()
        return str(status), int(hourly), int(daily)

    async def execute(self, query: str, args: tuple | None = None) -> None:
        async with self.conn.cursor() as cur:
            await cur.execute(query, args)
