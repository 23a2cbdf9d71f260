"""Database models, one module per aggregate."""

from .api_key import ApiKey, ScanCount
from .audit import AuditLog
from .campaign import Campaign, CampaignUnit, PopulationCount
from .entry_point import EntryPoint
from .export_job import ExportJob
from .kiosk import Kiosk, KioskBlockedPress
from .paper import PaperBatch, PaperEntry, PaperForm
from .questionnaire import QuestionnaireVersion
from .response import RESPONSE_ANSWERS, Answer, Response
from .unit import Counter, ProcedureField, Unit
from .user import User

__all__ = [
    "Answer", "ApiKey", "AuditLog", "Campaign", "CampaignUnit", "Counter", "EntryPoint", "PopulationCount",
    "ProcedureField", "QuestionnaireVersion", "Response", "ScanCount", "Unit", "User",
]
__all__ += ["PaperBatch", "PaperEntry", "PaperForm"]
__all__ += ["Kiosk", "KioskBlockedPress"]
__all__ += ["ExportJob"]
__all__ += ["RESPONSE_ANSWERS"]
