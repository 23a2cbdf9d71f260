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
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

REQUIRED = _l("Vui lòng điền mục này.")


class UploadForm(FlaskForm):
    """One CSV or XLSX file."""

    file = FileField(_l("Tệp CSV hoặc XLSX"), validators=[FileRequired(_l("Vui lòng chọn một tệp."))])


class UnitForm(FlaskForm):
    """One unit (đơn vị) of the tree."""

    code = StringField(_l("Mã đơn vị"), validators=[DataRequired(REQUIRED), Length(max=32)])
    name = StringField(_l("Tên đơn vị"), validators=[DataRequired(REQUIRED), Length(max=200)])
    level = SelectField(_l("Cấp"))
    parent_id = SelectField(_l("Đơn vị cha"), coerce=int)


class CounterForm(FlaskForm):
    """A counter (quầy) of a unit."""

    unit_id = SelectField(_l("Đơn vị"), coerce=int, validators=[DataRequired(REQUIRED)])
    code = StringField(_l("Mã quầy"), validators=[DataRequired(REQUIRED), Length(max=32)])
    name = StringField(_l("Tên quầy"), validators=[DataRequired(REQUIRED), Length(max=200)])
    network_cidr = StringField(_l("Dải mạng của quầy (không bắt buộc)"),
                               validators=[Optional(), Length(max=64)])


class FieldForm(FlaskForm):
    """A procedure field (lĩnh vực)."""

    code = StringField(_l("Mã lĩnh vực"), validators=[DataRequired(REQUIRED), Length(max=64)])
    name = StringField(_l("Tên lĩnh vực"), validators=[DataRequired(REQUIRED), Length(max=200)])
    name_en = StringField(_l("Tên tiếng Anh (không bắt buộc)"), validators=[Optional(), Length(max=200)])
    procedure_code = StringField(_l("Mã thủ tục trên CSDL quốc gia (không bắt buộc)"),
                                 validators=[Optional(), Length(max=64)])


class CheckboxList(SelectMultipleField):
    """Several choices as check boxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CampaignForm(FlaskForm):
    """A campaign: period, questionnaire version, units, weighting, margin of error."""

    code = StringField(_l("Mã đợt"), validators=[DataRequired(REQUIRED), Length(max=64)])
    name = StringField(_l("Tên đợt"), validators=[DataRequired(REQUIRED), Length(max=200)])
    questionnaire_version_id = SelectField(_l("Phiên bản bảng hỏi"), coerce=int,
                                           validators=[DataRequired(REQUIRED)])
    starts_on = DateField(_l("Ngày bắt đầu"), validators=[DataRequired(REQUIRED)])
    ends_on = DateField(_l("Ngày kết thúc"), validators=[DataRequired(REQUIRED)])
    weighting = SelectField(_l("Trọng số khi phân tích"))
    margin_percent = FloatField(_l("Sai số cho phép e (%)"), default=5.0,
                                validators=[DataRequired(REQUIRED), NumberRange(0.5, 50)])
    unit_ids = CheckboxList(_l("Đơn vị tham gia"), coerce=int)


class TargetsForm(FlaskForm):
    """Recompute targets from the transactions of a range of months."""

    first_month = MonthField(_l("Từ tháng"), validators=[DataRequired(REQUIRED)])
    last_month = MonthField(_l("Đến tháng"), validators=[DataRequired(REQUIRED)])


class TargetForm(FlaskForm):
    """One unit's target set by hand (empty = no target)."""

    target_n = IntegerField(_l("Chỉ tiêu"), validators=[Optional(), NumberRange(0, 10**7)])


class DecisionForm(FlaskForm):
    """A review decision with its mandatory reason."""

    action = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(_l("Lý do (bắt buộc)"), validators=[DataRequired(REQUIRED), Length(max=1000)])
