"""One error handler for the whole site.

Every failure is classified once into (HTTP status, code, message). Under
/api and /healthz it answers ``{"error": {"code": str, "message": str}}``;
elsewhere a Vietnamese HTML page. No stack trace ever reaches a client: an
unexpected exception is logged here and answered with a generic 500.
"""

from __future__ import annotations

import errno

from flask import current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from indexer import store
from indexer.arrays import ArraysMissing
from search.backend import BackendUnavailable
from search.deadline import SearchTimeout
from search.request import MAX_PAGE_SIZE, BadRequest
from webui.context import is_api_path


class ApiError(Exception):
    """A failure the web layer detects itself, carrying its own status."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


# Codes for werkzeug's own HTTP errors (routing, method, body size).
HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "body_too_large", 500: "internal_error",
              503: "unavailable", 507: "insufficient_storage"}

# A write that failed for want of space: nothing was committed (store.writing
# abandons it), and the same request succeeds once space is freed.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)

TITLES_VI = {
    400: "Yêu cầu không hợp lệ", 401: "Cần xác thực", 403: "Không được phép",
    404: "Không tìm thấy trang", 405: "Phương thức không được hỗ trợ",
    413: "Dữ liệu gửi lên quá lớn", 500: "Đã có lỗi xảy ra",
    503: "Dịch vụ tạm thời chưa sẵn sàng", 507: "Máy chủ hết dung lượng lưu trữ",
}

MESSAGES_VI = {
    "bad_date": "Ngày không hợp lệ. Hãy nhập ngày theo dạng dd/mm/yyyy hoặc yyyy-mm-dd, "
                "và ngày bắt đầu không sau ngày kết thúc.",
    "bad_size": f"Số kết quả mỗi trang phải từ 1 đến {MAX_PAGE_SIZE}.",
    "bad_page": "Số trang phải là số nguyên dương.",
    "page_too_deep": "Trang này quá sâu. Hãy thu hẹp tìm kiếm bằng bộ lọc.",
    "query_too_long": "Câu tìm kiếm quá dài. Hãy rút gọn câu tìm kiếm.",
    "bad_sort": "Cách sắp xếp không hợp lệ.",
    "not_found": "Trang hoặc bài viết bạn tìm không tồn tại hoặc đã bị xóa.",
    "index_missing": "Kho bài viết chưa được lập chỉ mục. Vui lòng quay lại sau.",
    "index_busy": "Kho bài viết đang được cập nhật. Vui lòng thử lại sau ít phút.",
    "search_timeout": "Tìm kiếm này mất quá nhiều thời gian và đã dừng lại. "
                      "Vui lòng thử lại, hoặc thu hẹp câu tìm kiếm bằng bộ lọc.",
    "cluster_unavailable": "Cụm máy chủ tìm kiếm đang không trả lời. Vui lòng thử lại sau ít phút.",
    "cluster_error": "Cụm máy chủ tìm kiếm đang gặp sự cố. Vui lòng thử lại sau ít phút.",
    "cluster_partial": "Phần kho chứa bài viết này đang không truy cập được. Vui lòng thử lại sau ít phút.",
    "index_problem": "Kho bài viết đang gặp sự cố và tạm ngừng phục vụ. Vui lòng quay lại sau.",
    "insufficient_storage": "Máy chủ đã hết dung lượng lưu trữ; chưa có thay đổi nào được ghi. "
                            "Vui lòng thử lại sau.",
}


# What an API client is told for each BackendUnavailable code (search/backend.py):
# the exception's own message names hosts and ports, and goes to the log.
CLUSTER_MESSAGES = {
    "cluster_unavailable": "the search cluster does not answer; try again shortly",
    "cluster_error": "the search cluster failed to answer; try again shortly",
    "cluster_partial": "no live mirror holds the part of the archive where this article is; try again shortly",
    "cluster_misconfigured": "the server's search cluster settings do not match the cluster",
    "writes_unconfigured": "writes are not configured on this server (no VNSEARCH_CLUSTER_DIR)",
}


def classify(exc: Exception) -> tuple[int, str, str, dict]:
    """(status, code, message, extra headers) for any exception."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.message, exc.headers
    if isinstance(exc, BadRequest):
        return 400, exc.code, exc.message, {}
    if isinstance(exc, SearchTimeout):
        current_app.logger.warning("%s %s: %s", request.method, request.full_path, exc)
        return 503, "search_timeout", str(exc), {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, store.IndexMissing):
        current_app.logger.error("%s", exc)  # names the directory; clients need not see it
        return 503, "index_missing", "the search index has not been built yet", {}
    if isinstance(exc, store.IndexBusy):
        return 503, "index_busy", "the index is being written; try again shortly", {"Retry-After": "5"}
    if isinstance(exc, BackendUnavailable):
        current_app.logger.error("%s", exc)  # names hosts and ports; clients need not see them
        return 503, exc.code, CLUSTER_MESSAGES.get(exc.code, CLUSTER_MESSAGES["cluster_unavailable"]), \
            {"Retry-After": "5"}
    if isinstance(exc, store.IndexProblem | ArraysMissing):
        current_app.logger.error("%s", exc)
        return 503, "index_problem", "the search index is not usable right now", {}
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        current_app.logger.error("a write failed, the disk is full: %s", exc)
        return 507, "insufficient_storage", "the server's disk is full: nothing was written; try again later", {}
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        code = HTTP_CODES.get(status) or (exc.name or "error").lower().replace(" ", "_")
        headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        return status, code, exc.description or exc.name, headers
    current_app.logger.exception("unexpected error on %s %s", request.method, request.path)
    return 500, "internal_error", "an unexpected error occurred; it has been logged", {}


def handle(exc: Exception):
    if isinstance(exc, HTTPException) and (exc.code or 500) < 400:
        return exc  # redirects (e.g. a missing trailing slash) pass through
    status, code, message, headers = classify(exc)
    if is_api_path(request.path):
        response = jsonify({"error": {"code": code, "message": message}})
    else:
        title = TITLES_VI.get(status, "Đã có lỗi xảy ra")
        response = current_app.make_response(render_template(
            "error.html", status=status, title=title,
            message=MESSAGES_VI.get(code) or _vi_for_status(status), query=_safe_query()))
    response.status_code = status
    response.headers.update(headers)
    return response


def _vi_for_status(status: int) -> str:
    if status == 400:
        return "Tham số trong địa chỉ không hợp lệ. Hãy thử tìm kiếm lại từ trang chủ."
    if status >= 500:
        return "Máy chủ gặp sự cố khi xử lý yêu cầu. Vui lòng thử lại sau."
    return TITLES_VI.get(status, "Đã có lỗi xảy ra") + "."


def _safe_query() -> str:
    """The query to put back in the error page's search box, if readable."""
    value = request.args.get("q", "") if request.args else ""
    return value[:200]


def register(app) -> None:
    app.register_error_handler(Exception, handle)
