"""The public status page (``dozor status``): a server-rendered site in Russian, with no
script, for citizens and curators, plus its Atom feeds, JSON API and SVG badges.

It reads Prometheus with the report's collection (``monitor.report``) over the standard's
rolling window, and the rules' state formulas (``monitor.promql``), on a timer
(``refresher``); visitors are served from the last snapshot (``server``), never by a query.

- ``directory``: what of the catalog is public (names, life situations, curators' public
  fields, announced maintenance) — nothing else enters the site;
- ``collect``: the queries; ``snapshot``: what one refresh knows;
- ``views``: the snapshot as one plain dict per page, shared by the HTML and the JSON API;
- ``render``, ``templates/``, ``static/``: Jinja2 (autoescaped) and the stylesheet;
- ``feed``, ``badges``: Atom entries and SVG badges; ``guard``: security headers, rate limit;
- ``service``, ``command``: start it in-process (the demo) or as ``dozor status``.
"""

from monitor.status.service import StatusOptions, StatusServer, start_status

__all__ = ["StatusOptions", "StatusServer", "start_status"]
