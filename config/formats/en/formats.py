"""How the admin writes dates and times where a page does not choose a format itself (change lists,
read-only fields, history): ISO dates, 24-hour times and the zone named, ``2026-11-30 09:05 UTC``.

Django's English defaults (``Nov. 30, 2026, 9:05 a.m.``) neither sort by eye nor say which zone they are
in; the admin shows times in ``TIME_ZONE`` (UTC), while the customer page and timelines convert to the
customer's zone and name it. Forms still accept the input formats Django knows.
"""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
TIME_FORMAT = "H:i"
