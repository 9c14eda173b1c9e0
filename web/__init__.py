"""The HTML side of the application: page routes (routes), the one error path for pages
(errors), the pages' view models (pages/), SVG charts (charts), presentable text (text),
number formats (format), templates/ and static/. Built on the same services as the JSON API
(`server.services`); the server's app mounts this package's router."""
