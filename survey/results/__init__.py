"""Results pages (kết quả khảo sát): indices with intervals, comparisons, rankings and charts."""

from .views import bp

__all__ = ["bp"]
