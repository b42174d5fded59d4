"""What the demo world serves: one entry per probe target of ``config/examples/demo``.

The catalog YAML stays the daemon's source of truth; this table mirrors it from the world's
side (path, page text, the region's time zone, which listener, which fault), and
``tests/test_demo_world.py`` checks that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Which origin serves the path: plain HTTP, HTTPS with a one-year certificate, or HTTPS
# with a certificate that expires in a few days.
Listener = Literal["http", "https", "expiring"]
# "night": 503 from 01:00 to 04:00 local; "flaky": ~5 % of requests 500; "slow": a fifth of
# responses take 1.5–2.5 s; "hourly": 502 in minutes 00–09 of every hour; "sso": 503 while
# the single sign-on platform is down (``faults.sso_down``), for it and the pages behind it.
Fault = Literal["none", "night", "flaky", "slow", "hourly", "sso"]
Kind = Literal["html", "json"]


@dataclass(frozen=True)
class Site:
    path: str
    service: str  # catalog service (or platform) id
    title: str  # the page heading; the catalog's body_contains quotes it
    department: str
    zone: str  # IANA zone of the service's region: faults follow local time
    listener: Listener = "http"
    fault: Fault = "none"
    kind: Kind = "html"


_MSK = "Europe/Moscow"

SITES: tuple[Site, ...] = (
    # The single sign-on platform (a catalog platform, not a service): several federal
    # services' pages sit behind its login and fail with it.
    Site(
        "/esia/login",
        "esia",
        "Вход в личный кабинет",
        "Минцифры России",
        _MSK,
        "https",
        fault="sso",
    ),
    # Federal services (systems hosted in Moscow).
    Site(
        "/gu/foreign-passport",
        "foreign-passport",
        "Выдача загранпаспорта нового образца",
        "МВД России",
        _MSK,
        "https",
    ),
    Site(
        "/api/gu/foreign-passport/v1/status",
        "foreign-passport",
        "Выдача загранпаспорта нового образца",
        "МВД России",
        _MSK,
        "https",
        kind="json",
    ),
    Site(
        "/sfr/pension",
        "pension",
        "Назначение страховой пенсии по старости",
        "Социальный фонд России",
        _MSK,
        "https",
    ),
    Site(
        "/sfr/maternity-capital",
        "maternity-capital",
        "Распоряжение средствами материнского капитала",
        "Социальный фонд России",
        _MSK,
        "https",
        fault="sso",
    ),
    Site(
        "/api/sfr/maternity-capital/v2/health",
        "maternity-capital",
        "Распоряжение средствами материнского капитала",
        "Социальный фонд России",
        _MSK,
        "https",
        kind="json",
    ),
    Site(
        "/rosreestr/egrn-extract",
        "egrn-extract",
        "Предоставление сведений из ЕГРН (выписка)",
        "Росреестр",
        _MSK,
        fault="slow",
    ),
    Site(
        "/fns/ip-registration",
        "ip-registration",
        "Государственная регистрация физического лица в качестве ИП",
        "ФНС России",
        _MSK,
        "https",
        fault="sso",
    ),
    Site(
        "/api/fns/ip-registration/v1/ping",
        "ip-registration",
        "Государственная регистрация физического лица в качестве ИП",
        "ФНС России",
        _MSK,
        "https",
        kind="json",
    ),
    Site(
        "/gibdd/driving-licence-replacement",
        "driving-licence-replacement",
        "Замена водительского удостоверения",
        "Госавтоинспекция МВД России",
        _MSK,
        fault="sso",
    ),
    # Москва
    Site(
        "/mos/kindergarten",
        "kindergarten-mow",
        "Запись в детский сад",
        "Департамент образования и науки города Москвы",
        _MSK,
    ),
    Site(
        "/api/mos/kindergarten/v1/status",
        "kindergarten-mow",
        "Запись в детский сад",
        "Департамент образования и науки города Москвы",
        _MSK,
        kind="json",
    ),
    Site(
        "/mos/doctor",
        "doctor-mow",
        "Запись к врачу",
        "Департамент здравоохранения города Москвы",
        _MSK,
    ),
    # Санкт-Петербург
    Site(
        "/spb/birth-registration",
        "birth-registration-spe",
        "Государственная регистрация рождения",
        "Комитет по делам записи актов гражданского состояния",
        _MSK,
    ),
    Site(
        "/spb/child-payment",
        "child-payment-spe",
        "Ежемесячная выплата на ребёнка",
        "Комитет по социальной политике Санкт-Петербурга",
        _MSK,
        "https",
    ),
    # Смоленская область
    Site(
        "/smo/kindergarten",
        "kindergarten-smo",
        "Постановка на учёт в детский сад",
        "Управление образования Администрации города Смоленска",
        _MSK,
    ),
    Site(
        "/smo/address-assignment",
        "address-assignment-smo",
        "Присвоение адреса объекту адресации",
        "Управление архитектуры и градостроительства Администрации города Смоленска",
        _MSK,
    ),
    # Республика Татарстан
    Site(
        "/kzn/first-grade",
        "first-grade-kzn",
        "Запись в 1 класс",
        "Управление образования Исполнительного комитета г. Казани",
        _MSK,
        "expiring",
    ),
    Site(
        "/tatar/land-plan",
        "land-plan-ta",
        "Выдача градостроительного плана земельного участка",
        "Министерство строительства, архитектуры и ЖКХ Республики Татарстан",
        _MSK,
    ),
    # Новосибирская область
    Site(
        "/nso/doctor",
        "doctor-nvs",
        "Запись на приём к врачу",
        "Министерство здравоохранения Новосибирской области",
        "Asia/Novosibirsk",
        fault="night",
    ),
    Site(
        "/nsk/kindergarten",
        "kindergarten-nsk",
        "Постановка на учёт в детский сад",
        "Департамент образования мэрии города Новосибирска",
        "Asia/Novosibirsk",
    ),
    # Хабаровский край
    Site(
        "/khv/construction-permit",
        "construction-permit-khv",
        "Выдача разрешения на строительство",
        "Департамент архитектуры, строительства и землепользования администрации г. Хабаровска",
        "Asia/Vladivostok",
        fault="hourly",
    ),
    Site(
        "/kha/child-payment",
        "child-payment-kha",
        "Ежемесячная выплата на ребёнка",
        "Министерство социальной защиты Хабаровского края",
        "Asia/Vladivostok",
    ),
    # Свердловская область
    Site(
        "/sve/residence-registration",
        "residence-registration-sve",
        "Регистрация по месту жительства",
        "ГУ МВД России по Свердловской области",
        "Asia/Yekaterinburg",
    ),
    Site(
        "/sve/housing-subsidy",
        "housing-subsidy-sve",
        "Субсидия на оплату жилого помещения и коммунальных услуг",
        "Министерство социальной политики Свердловской области",
        "Asia/Yekaterinburg",
        fault="flaky",
    ),
)
