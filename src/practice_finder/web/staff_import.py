"""Import from the staff pages: upload a CSV, XLSX or JSONL file, read the dry-run report, confirm.

The upload is kept in `state_dir/uploads/` under a random name between the report and the
confirmation; the confirmation runs the same all-or-nothing import as `practice-finder import`
(through the write log) and is audited. Only a signed-in member of staff reaches these routes.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template

from practice_finder.corpus.staff_files import import_file
from practice_finder.corpus.submissions import ReviewStore
from practice_finder.errors import CorpusError, InvalidQueryError
from practice_finder.web.serving import Service
from practice_finder.web.staff import (
    Form,
    SignInNeeded,
    require_staff,
    session_config,
    staff_page,
    to_sign_in,
    who,
)
from practice_finder.web.submit import review_dependency

UPLOAD = re.compile(r"^[0-9a-f]{32}\.(csv|xlsx|jsonl)$")
MAX_UPLOAD = 20 * 1024 * 1024  # what the import itself reads at most


def _uploads(service: Service) -> Path:
    return service.settings.state_dir / "uploads"


def _checked(service: Service, name: str, dry_run: bool) -> dict[str, Any]:
    """The import's report (`report`) or its problems by row and column (`problems`)."""
    try:
        report = import_file(service.catalog, _uploads(service) / name, dry_run=dry_run)
    except CorpusError as exc:
        return {"problems": [str(p) for p in exc.problems], "report": None}
    return {"problems": [], "report": msgspec.structs.asdict(report)}


@get("/", name="staff-import", include_in_schema=False, sync_to_thread=False)
def import_form(request: Request[Any, Any, Any]) -> Template:
    return Template(
        "staff_import.html", context=staff_page(request, upload=None, problems=[], report=None)
    )


@post(
    "/",
    name="staff-import-check",
    include_in_schema=False,
    sync_to_thread=True,
    status_code=200,
    request_max_body_size=MAX_UPLOAD,
)
def import_check(
    request: Request[Any, Any, Any],
    service: NamedDependency[Service],
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Template:
    """Keep the upload and show what importing it would do (nothing is written yet)."""
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidQueryError("file", "choose a CSV, XLSX or JSONL file")
    suffix = Path(upload.filename).suffix.lower().lstrip(".")
    name = f"{secrets.token_hex(16)}.{suffix}"
    if not UPLOAD.match(name):
        raise InvalidQueryError("file", f"{upload.filename!r} is not a .csv, .xlsx or .jsonl file")
    _uploads(service).mkdir(parents=True, exist_ok=True)
    (_uploads(service) / name).write_bytes(upload.file.read())
    outcome = _checked(service, name, dry_run=True)
    context = staff_page(request, upload=name if not outcome["problems"] else None, **outcome)
    return Template("staff_import.html", context={**context, "filename": upload.filename})


@post(
    "/confirm",
    name="staff-import-confirm",
    include_in_schema=False,
    sync_to_thread=True,
    status_code=200,
)
def import_confirm(
    request: Request[Any, Any, Any],
    service: NamedDependency[Service],
    review: NamedDependency[ReviewStore],
    data: Form,
) -> Template:
    """Import the checked upload through the write log (all rows or none) and audit it."""
    name = str(data.get("upload") or "")
    if not UPLOAD.match(name) or not (_uploads(service) / name).exists():
        raise InvalidQueryError("upload", "no such upload: upload the file again")
    outcome = _checked(service, name, dry_run=False)
    (_uploads(service) / name).unlink()
    report = outcome["report"]
    if report is not None:
        counts = {k: report[k] for k in ("added", "changed", "unchanged")}
        with review.connect() as conn:
            review.audit(
                conn, who(request), "import", str(data.get("filename") or name), str(counts)
            )
    return Template("staff_import.html", context=staff_page(request, upload=None, **outcome))


def import_router(store: ReviewStore, state_dir: Path) -> Router:
    return Router(
        path="/staff/import",
        route_handlers=[import_form, import_check, import_confirm],
        dependencies=review_dependency(store),
        middleware=[session_config(state_dir).middleware],
        guards=[require_staff],
        exception_handlers={SignInNeeded: to_sign_in},
        include_in_schema=False,
    )
