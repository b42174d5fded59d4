"""The demo e-service world: a local simulator of the services in ``config/examples/demo``,
so ``dozor demo`` shows real data, and real faults, within a minute.

Listeners (``demo_env`` turns them into the catalog's variables):

=============  ============================  ===========================================
listener       env variable                  default in the catalog
=============  ============================  ===========================================
plain HTTP     ``DOZOR_DEMO_HTTP``           ``http://127.0.0.1:9250``
HTTPS, 1 year  ``DOZOR_DEMO_HTTPS``          ``https://127.0.0.1:9251``
HTTPS, 5 days  ``DOZOR_DEMO_HTTPS_EXPIRING`` ``https://127.0.0.1:9252``
CA (PEM)       ``DOZOR_DEMO_CA``             ``/tmp/dozor-demo-ca.pem``
TLS, 1 year    ``DOZOR_DEMO_TLS``            ``127.0.0.1:9251`` (the HTTPS listener)
TLS, 5 days    ``DOZOR_DEMO_TLS_EXPIRING``   ``127.0.0.1:9252``
DNS UDP+TCP    ``DOZOR_DEMO_DNS``            ``127.0.0.1:9253``
SMTP+STARTTLS  ``DOZOR_DEMO_SMTP``           ``127.0.0.1:9254``
gRPC health    ``DOZOR_DEMO_GRPC``           ``127.0.0.1:9255``
=============  ============================  ===========================================

The non-HTTP services and their schedule are described in ``services.py``;
``config/examples/every-kind`` probes each of them.

Pages only a real browser can judge (the browser probe kind), on the plain HTTP listener:

================================  ===========================================================
path                              what it is
================================  ===========================================================
``/khv/doctor``                   doctor-khv's single-page app (``spa.py``): a shell that always
                                  answers 200 with "Загрузка…" and one external script
``/khv/doctor/app.js``            the script: fetches the API, renders "Свободные талоны" and
                                  ``#slots`` ("Талонов свободно: 4"), or ``#error``
                                  ("Сервис временно недоступен…") when the API fails
``/api/khv/doctor/v1/slots``      the JSON the page is built from
``/smo/address-assignment/apply`` a form that works but fails an accessibility audit
                                  (``a11y.py``): image without alt, input without label,
                                  2:1 contrast text
================================  ===========================================================

Faults, decided from the world's clock in the service region's local time:

===========================  ================  ==============================================
service                      region (zone)     fault
===========================  ================  ==============================================
doctor-nvs                   RU-NVS (UTC+7)    503 every night 01:00–04:00 local: breaks the
                                               off-hours objective and max outage
housing-subsidy-sve          RU-SVE (UTC+5)    flaky: ~5 % of requests answer 500
egrn-extract                 RU-MOW (UTC+3)    slow: 20 % of responses take 1.5–2.5 s against
                                               a 1 s latency objective
first-grade-kzn              RU-TA (UTC+3)     HTTPS certificate expires 5 days after start
construction-permit-khv      RU-KHA (UTC+10)   502 in minutes 00–09 of every hour
doctor-khv                   RU-KHA (UTC+10)   its JSON API answers 503 in minutes 00–09 of
                                               every hour while the page's shell answers 200:
                                               an http probe says up, a browser probe down
address-assignment-smo       RU-SMO (UTC+3)    its application form works but fails the
                                               accessibility audit of its browser probe
esia (a platform)            RU-MOW (UTC+3)    the single sign-on's login page answers 503 in
                                               minutes 10–14, 30–34 and 50–54 of every hour,
                                               and so do the pages behind it: the portals of
                                               maternity-capital, ip-registration and
                                               driving-licence-replacement (their APIs stay up)
===========================  ================  ==============================================

The pension service's result stage is a heartbeat: ``nightly.py`` simulates the nightly
back-office job that processes applications, each "night" two minutes long; it reports its
start and end to the daemon's ``/ping/<token>`` (the token is new for every world:
``DOZOR_DEMO_HEARTBEAT_TOKEN``) and misses one night in five, which the heartbeat reports as
``missed``.

Every other service answers 200 after 10–80 ms. ``sites.py`` lists every path.

Beside the world, ``dozor demo`` runs a real Prometheus and Alertmanager (``stack.py``) and
prints every Alertmanager notification on the terminal (``console.py``); the rule files and
the Alertmanager config are rendered by ``monitor.cli`` and handed over as text.
"""

from monitor.demo.world import World, demo_env, start_world

__all__ = ["World", "demo_env", "start_world"]
