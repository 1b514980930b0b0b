"""The course's chapters and objectives, by stable id (from shared SYLLABUS.md).

Lessons, assessment cells (``metadata.course.objectives``), tests and reports refer to
objectives by these ids; tests check that every id used exists here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Chapter", "Objective", "CHAPTERS", "OBJECTIVES", "objective", "chapter_of"]


@dataclass(frozen=True)
class Objective:
    id: str
    title: str
    core: bool = False


@dataclass(frozen=True)
class Chapter:
    number: str          # "2.8"
    slug: str            # "08_caching": lesson notebooks/<slug>.ipynb, assessment source/<slug>/
    title: str
    minutes: int
    core: bool
    objectives: tuple[Objective, ...]


def _o(id: str, title: str, core: bool = False) -> Objective:
    return Objective(id, title, core)


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("2.1", "01_http", "HTTP/HTTPS deeply", 28, True, (
        _o("2.1.1", "Methods and their safe / idempotent / cacheable properties, and what that means for retries", True),
        _o("2.1.2", "Status-code families and choosing the right code (incl. 401 vs 403, 409, 422, 429, 503)", True),
        _o("2.1.3", "The headers that matter: caching, content negotiation, auth, cookies, CORS"),
        _o("2.1.4", "What TLS adds (confidentiality, integrity, server authentication, forward secrecy) and what it does not", True),
    )),
    Chapter("2.2", "02_api_design", "API design & alternatives", 32, True, (
        _o("2.2.1", "REST principles (resources, uniform interface, statelessness, cacheability)"),
        _o("2.2.2", "Choosing REST vs GraphQL vs gRPC vs WebSockets for a given client and traffic shape", True),
        _o("2.2.3", "API versioning strategies and compatible evolution"),
        _o("2.2.4", "Pagination: offset vs keyset/cursor, and stability under concurrent inserts", True),
        _o("2.2.5", "Rate limiting algorithms and 429 + Retry-After"),
        _o("2.2.6", "Idempotency keys: safe retries of non-idempotent requests", True),
    )),
    Chapter("2.3", "03_auth", "Auth & security concepts", 25, True, (
        _o("2.3.1", "Authentication vs authorization (and 401 vs 403)", True),
        _o("2.3.2", "Server sessions + cookies vs stateless JWTs", True),
        _o("2.3.3", "OAuth2 (delegated authorization, authorization code + PKCE) vs OpenID Connect", True),
    )),
    Chapter("2.4", "04_architecture", "Application architecture & patterns", 22, False, (
        _o("2.4.1", "Middleware pipelines (WSGI/ASGI style) and cross-cutting concerns"),
        _o("2.4.2", "MVC / layered architecture and dependency injection"),
        _o("2.4.3", "SOLID, each principle with the code smell it fixes"),
        _o("2.4.4", "Practical design patterns: strategy, observer, factory, adapter, decorator, repository"),
    )),
    Chapter("2.5", "05_concurrency", "Concurrency & parallelism", 24, False, (
        _o("2.5.1", "Concurrency vs parallelism"),
        _o("2.5.2", "Threads vs processes vs async I/O (GIL, free-threaded CPython, I/O- vs CPU-bound work)"),
        _o("2.5.3", "Hazards: race conditions and deadlocks (Coffman conditions, lock ordering)"),
        _o("2.5.4", "Locks/mutexes vs semaphores (and when each fits)"),
    )),
    Chapter("2.6", "06_messaging", "Messaging & event-driven architecture", 22, False, (
        _o("2.6.1", "Queues vs pub/sub, and how Kafka, RabbitMQ and SQS differ"),
        _o("2.6.2", "Delivery guarantees; why at-least-once forces idempotent consumers"),
        _o("2.6.3", "Event-driven vs request/response tradeoffs"),
    )),
    Chapter("2.7", "07_distributed", "Distributed systems & scaling", 28, True, (
        _o("2.7.1", "Monolith vs microservices"),
        _o("2.7.2", "API gateway and service discovery"),
        _o("2.7.3", "CAP: what a CP and an AP system do during a partition, and the caveat (PACELC)", True),
        _o("2.7.4", "Eventual consistency: replicas converging, stale reads, session guarantees", True),
        _o("2.7.5", "Horizontal vs vertical scaling (Amdahl, USL, consistent hashing)", True),
    )),
    Chapter("2.8", "08_caching", "Caching", 20, True, (
        _o("2.8.1", "Cache-aside vs read-through vs write-through vs write-back (and write-back's risk)", True),
        _o("2.8.2", "Eviction policies LRU / LFU / FIFO / TTL and their hit rates on real access patterns", True),
        _o("2.8.3", "Where caches live (browser, CDN, reverse proxy, application, database) and invalidation"),
        _o("2.8.4", "Redis vs Memcached", True),
    )),
)

OBJECTIVES: dict[str, Objective] = {o.id: o for c in CHAPTERS for o in c.objectives}


def objective(id: str) -> Objective:
    try:
        return OBJECTIVES[id]
    except KeyError:
        raise KeyError(f"unknown objective id {id!r}; known ids are 2.1.1 ... 2.8.4") from None


def chapter_of(objective_id: str) -> Chapter:
    return next(c for c in CHAPTERS if any(o.id == objective_id for o in c.objectives))
