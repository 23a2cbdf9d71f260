"""Forms of the management pages (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    FloatField,
    HiddenField,
    IntegerField,
    MonthField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

REQUIRED = _l("Vui lòng điền mục này.")
TOO_LONG = _l("Tối đa %(max)d ký tự.")
NOT_NUMBER = _l("Vui lòng nhập một số.")


class LocalDateField(DateField):
    """A date from the browser's date picker (2026-03-31) or typed the Vietnamese way (31/03/2026)."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=["%Y-%m-%d", "%d/%m/%Y"], **kwargs)

    def process_formdata(self, valuelist):
        """Parse; a Vietnamese message when the text is not a date."""
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_l("Ngày không hợp lệ (ví dụ 31/03/2026).")) from None


def required(max_length: int) -> list:
    """A text that must be given, at most ``max_length`` characters."""
    return [DataRequired(REQUIRED), Length(max=max_length, message=TOO_LONG)]


def optional(max_length: int) -> list:
    """A text that may be empty, at most ``max_length`` characters."""
    return [Optional(), Length(max=max_length, message=TOO_LONG)]


class DecimalCommaField(FloatField):
    """A number typed the Vietnamese way (``2,5``) or the English way (``2.5``)."""

    def process_formdata(self, valuelist):
        """Parse with a decimal comma or point; a Vietnamese message otherwise."""
        if valuelist and valuelist[0].strip():
            try:
                self.data = float(valuelist[0].strip().replace(",", "."))
            except ValueError:
                self.data = None
                raise ValueError(NOT_NUMBER) from None
        else:
            self.data = None


class WholeNumberField(IntegerField):
    """A whole number with a Vietnamese message when it is not one."""

    def process_formdata(self, valuelist):
        """Parse digits; a Vietnamese message otherwise."""
        if valuelist and valuelist[0].strip():
            try:
                self.data = int(valuelist[0].strip())
            except ValueError:
                self.data = None
                raise ValueError(NOT_NUMBER) from None
        else:
            self.data = None


class UploadForm(FlaskForm):
    """One CSV or XLSX file."""

    file = FileField(_l("Tệp CSV hoặc XLSX"), validators=[FileRequired(_l("Vui lòng chọn một tệp."))])


class UnitForm(FlaskForm):
    """One unit (đơn vị) of the tree."""

    code = StringField(_l("Mã đơn vị"), validators=required(32))
    name = StringField(_l("Tên đơn vị"), validators=required(200))
    level = SelectField(_l("Cấp"))
    parent_id = SelectField(_l("Đơn vị cha"), coerce=int)


class CounterForm(FlaskForm):
    """A counter (quầy) of a unit."""

    unit_id = SelectField(_l("Đơn vị"), coerce=int, validators=[DataRequired(REQUIRED)])
    code = StringField(_l("Mã quầy"), validators=required(32))
    name = StringField(_l("Tên quầy"), validators=required(200))
    network_cidr = StringField(_l("Dải mạng của quầy (không bắt buộc)"),
                               validators=optional(64))


class FieldForm(FlaskForm):
    """A procedure field (lĩnh vực)."""

    code = StringField(_l("Mã lĩnh vực"), validators=required(64))
    name = StringField(_l("Tên lĩnh vực"), validators=required(200))
    name_en = StringField(_l("Tên tiếng Anh (không bắt buộc)"), validators=optional(200))
    procedure_code = StringField(_l("Mã thủ tục trên CSDL quốc gia (không bắt buộc)"),
                                 validators=optional(64))


class CheckboxList(SelectMultipleField):
    """Several choices as check boxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CampaignForm(FlaskForm):
    """A campaign: period, questionnaire version, units, weighting, margin of error."""

    code = StringField(_l("Mã đợt"), validators=required(64))
    name = StringField(_l("Tên đợt"), validators=required(200))
    questionnaire_version_id = SelectField(_l("Phiên bản bảng hỏi"), coerce=int,
                                           validators=[DataRequired(REQUIRED)])
    # InputRequired, not DataRequired: a value that does not parse keeps its own message.
    starts_on = LocalDateField(_l("Ngày bắt đầu"), validators=[InputRequired(REQUIRED)])
    ends_on = LocalDateField(_l("Ngày kết thúc"), validators=[InputRequired(REQUIRED)])
    weighting = SelectField(_l("Trọng số khi phân tích"))
    margin_percent = DecimalCommaField(
        _l("Sai số cho phép e (%)"), default=5.0,
        validators=[InputRequired(REQUIRED),
                    NumberRange(0.5, 50, message=_l("Sai số cho phép phải từ 0,5 đến 50 phần trăm."))])
    unit_ids = CheckboxList(_l("Đơn vị tham gia"), coerce=int)


class TargetsForm(FlaskForm):
    """Recompute targets from the transactions of a range of months."""

    first_month = MonthField(_l("Từ tháng"), validators=[InputRequired(REQUIRED)])
    last_month = MonthField(_l("Đến tháng"), validators=[InputRequired(REQUIRED)])


class TargetForm(FlaskForm):
    """One unit's target set by hand (empty = no target)."""

    target_n = WholeNumberField(_l("Chỉ tiêu"), validators=[
        Optional(), NumberRange(0, 10**7, message=_l("Chỉ tiêu phải là số nguyên không âm."))])


class DecisionForm(FlaskForm):
    """A review decision with its mandatory reason."""

    action = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(_l("Lý do (bắt buộc)"), validators=required(1000))
