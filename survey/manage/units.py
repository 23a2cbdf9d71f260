"""Units tree and import, counters, procedure fields, transaction counts."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth import role_required
from ..extensions import csrf, db
from ..models import Counter, ProcedureField, Unit
from ..services import population as population_service
from ..services import reference_imports
from ..services import units as unit_service
from ..services.imports import ImportRejected, _l
from ..services.scope import get_in_scope, unit_in_scope
from .blueprint import MANAGERS, actor, bp, commit, field_error
from .forms import CounterForm, FieldForm, UnitForm, UploadForm

# --- units -------------------------------------------------------------------------------------

@bp.get("/units")
@role_required(*MANAGERS)
def units():
    """The unit tree of the user's subtree, with the import form for admins."""
    return _units_page(UploadForm())


def _units_page(form: UploadForm, errors=None, status: int = 200):
    """The tree page with the import form (and the errors of a refused file)."""
    tree = unit_service.unit_tree(current_user)
    counts = unit_service.counter_counts(current_user)
    return render_template("manage/units.html", tree=tree, counter_counts=counts, form=form,
                           errors=errors, levels=unit_service.LEVEL_LABELS,
                           columns=unit_service.UNIT_COLUMNS), status


@csrf.exempt  # checked by the form itself, after the larger body limit applies (blueprint.py)
@bp.post("/units/import")
@role_required("admin")
def import_units():
    """Import the unit tree (CSV/XLSX); all or nothing, errors beside the form."""
    return _import(unit_service.import_units, "manage.units",
                   lambda form, errors: _units_page(form, errors=errors, status=422))


@bp.route("/units/new", methods=["GET", "POST"])
@role_required("admin")
def new_unit():
    """Add one unit below a unit of the admin's subtree."""
    return _unit_form(None)


@bp.route("/units/<int:unit_id>/edit", methods=["GET", "POST"])
@role_required("admin")
def edit_unit(unit_id: int):
    """Rename or move one unit of the admin's subtree."""
    return _unit_form(get_in_scope(Unit, unit_id, current_user))


def _unit_form(unit: Unit | None):
    """Create or edit one unit; errors beside the fields, nothing written on error."""
    form = UnitForm(obj=unit)
    form.level.choices = [(k, _(v)) for k, v in unit_service.LEVEL_LABELS.items()]
    own = unit is not None and unit.id == current_user.unit_id
    form.parent_id.choices = ([(0, "—")] if own and unit.parent_id is None else []) + _unit_choices(
        exclude=unit_service.descendant_ids(unit.id) if unit else set())
    if own and unit.parent_id is not None:
        form.parent_id.choices = [(unit.parent_id, unit.parent.name)]
    if unit is None and request.method == "GET" and request.args.get("unit_id", "").isdigit():
        form.parent_id.data = int(request.args["unit_id"])
    if form.validate_on_submit():
        saved = _save(form, lambda: unit_service.save_unit(
            unit, code_=form.code.data, name=form.name.data, level=form.level.data,
            parent_id=form.parent_id.data or None, user=current_user, actor=actor()))
        if saved:
            flash(_("Đã lưu đơn vị «%(name)s».", name=saved[0]), "success")
            return redirect(url_for("manage.units"))
    status = 422 if request.method == "POST" else 200
    return render_template("manage/unit_form.html", form=form, unit=unit), status


@bp.get("/units/template.csv")
@role_required(*MANAGERS)
def units_template():
    """An example unit file with the expected headers (UTF-8 with BOM, opens in Excel)."""
    return _csv("mau-don-vi.csv", [["Mã đơn vị", "Tên đơn vị", "Cấp", "Mã đơn vị cha"],
                                  ["SD", "Thành phố Sa Đéc", "thành phố", ""],
                                  ["SD-P1", "Phường 1", "phường", "SD"],
                                  ["SD-TT", "Trung tâm Phục vụ hành chính công", "trung tâm", "SD"]])


@bp.get("/population/template.csv")
@role_required(*MANAGERS)
def population_template():
    """An example transaction-count file with the expected headers."""
    return _csv("mau-so-ho-so.csv", [["Mã đơn vị", "Mã lĩnh vực", "Tháng", "Số hồ sơ đã trả kết quả"],
                                    ["SD-P1", "HT", "2026-01", "120"],
                                    ["SD-P1", "", "2026-02", "210"]])


def _csv(filename: str, rows: list[list[str]]):
    """A small CSV download in UTF-8 with BOM (Excel opens it with the right diacritics)."""
    import csv
    import io

    from flask import Response
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


# --- counters ----------------------------------------------------------------------------------

@bp.get("/counters")
@role_required(*MANAGERS)
def counters():
    """Counters of the user's subtree, optionally of one unit (``?unit_id=``)."""
    return _counters_page()


def _unit_choices(exclude: set[int] = frozenset()) -> list[tuple[int, str]]:
    """Units of the user's subtree for a select, indented by depth."""
    return [(u.id, f"{'— ' * depth}{u.name} ({u.code})")
            for u, depth in unit_service.unit_tree(current_user) if u.id not in exclude]


@bp.route("/counters/new", methods=["GET", "POST"])
@role_required(*MANAGERS)
def new_counter():
    """Add a counter to a unit of the user's subtree."""
    return _counter_form(None)


@bp.route("/counters/<int:counter_id>/edit", methods=["GET", "POST"])
@role_required(*MANAGERS)
def edit_counter(counter_id: int):
    """Rename a counter, change its code or network."""
    return _counter_form(get_in_scope(Counter, counter_id, current_user))


def _counter_form(counter: Counter | None):
    """Create or edit a counter; errors beside the fields, nothing written on error."""
    form = CounterForm(obj=counter)
    form.unit_id.choices = _unit_choices()
    if counter is None and request.method == "GET" and request.args.get("unit_id", "").isdigit():
        form.unit_id.data = int(request.args["unit_id"])
    if form.validate_on_submit():
        if not unit_in_scope(current_user, form.unit_id.data):
            field_error(form, "unit_id", _l("Đơn vị nằm ngoài phạm vi quản lý của bạn."), {})
        else:
            unit = db.session.get(Unit, form.unit_id.data)
            saved = _save(form, lambda: unit_service.save_counter(
                counter, unit=unit, code_=form.code.data, name=form.name.data,
                network_cidr=form.network_cidr.data, actor=actor(), user_id=current_user.id))
            if saved:
                flash(_("Đã lưu quầy «%(name)s».", name=saved[0]), "success")
                return redirect(url_for("manage.counters", unit_id=saved[1]))
    status = 422 if request.method == "POST" else 200
    return render_template("manage/counter_form.html", form=form, counter=counter), status


@csrf.exempt  # checked by the form itself, after the larger body limit applies (blueprint.py)
@bp.post("/counters/import")
@role_required(*MANAGERS)
def import_counters():
    """Import counters (unit × code) of the user's subtree; all or nothing."""
    return _import(reference_imports.import_counters, "manage.counters",
                   lambda form, errors: _counters_page(form, errors, 422))


def _counters_page(form: UploadForm | None = None, errors=None, status: int = 200):
    """The counters list (of one unit with ``?unit_id=``) with the import form."""
    unit = None
    if request.args.get("unit_id"):
        unit = get_in_scope(Unit, request.args.get("unit_id"), current_user)
    return render_template("manage/counters.html", counters=unit_service.counters_of(current_user, unit),
                           unit=unit, form=form or UploadForm(), errors=errors,
                           columns=reference_imports.COUNTER_COLUMNS), status


def _import(service, done_endpoint: str, refused):
    """Validate the upload, run one import service, commit once; the page again with errors."""
    form = UploadForm()
    if not form.validate_on_submit():
        return refused(form, None)
    upload = form.file.data
    try:
        summary = service(upload.read(), upload.filename or "", user=current_user, actor=actor())
    except ImportRejected as exc:
        db.session.rollback()
        return refused(form, exc.errors)
    if not commit():
        return refused(form, None)
    flash(_("Đã nhập %(rows)s dòng: thêm %(created)s, cập nhật %(updated)s, không đổi %(unchanged)s.",
            rows=summary.rows, created=summary.created, updated=summary.updated,
            unchanged=summary.unchanged), "success")
    return redirect(url_for(done_endpoint))


# --- procedure fields --------------------------------------------------------------------------

@bp.get("/fields")
@role_required(*MANAGERS)
def fields():
    """The procedure fields (a catalogue shared by every unit)."""
    return _fields_page()


def _fields_page(form: UploadForm | None = None, errors=None, status: int = 200):
    """The field catalogue with the import form for admins."""
    return render_template("manage/fields.html", fields=unit_service.all_fields(), form=form or UploadForm(),
                           errors=errors, columns=reference_imports.FIELD_COLUMNS), status


@csrf.exempt  # checked by the form itself, after the larger body limit applies (blueprint.py)
@bp.post("/fields/import")
@role_required("admin")
def import_fields():
    """Import procedure fields by code; all or nothing."""
    return _import(reference_imports.import_fields, "manage.fields",
                   lambda form, errors: _fields_page(form, errors, 422))


@bp.route("/fields/new", methods=["GET", "POST"])
@role_required("admin")
def new_field():
    """Add a procedure field."""
    return _field_form(None)


@bp.route("/fields/<int:field_id>/edit", methods=["GET", "POST"])
@role_required("admin")
def edit_field(field_id: int):
    """Edit a procedure field."""
    field = db.get_or_404(ProcedureField, field_id)
    return _field_form(field)


def _field_form(field: ProcedureField | None):
    """Create or edit a procedure field; errors beside the fields."""
    form = FieldForm(obj=field)
    if form.validate_on_submit():
        saved = _save(form, lambda: unit_service.save_field(
            field, code_=form.code.data, name=form.name.data, name_en=form.name_en.data,
            procedure_code=form.procedure_code.data, actor=actor(), user_id=current_user.id))
        if saved:
            flash(_("Đã lưu lĩnh vực «%(name)s».", name=saved[0]), "success")
            return redirect(url_for("manage.fields"))
    status = 422 if request.method == "POST" else 200
    return render_template("manage/field_form.html", form=form, field=field), status


# --- transaction counts ------------------------------------------------------------------------

@bp.get("/population")
@role_required(*MANAGERS)
def population():
    """Transactions per unit and month of a year, with the import form for admins."""
    return _population_page(UploadForm())


def _population_page(form: UploadForm, errors=None, status: int = 200):
    """The transactions table of a year with the import form (and a refused file's errors)."""
    year = request.args.get("year", "")
    year = int(year) if year.isdigit() and 1900 <= int(year) <= 2999 else date.today().year
    table = population_service.population_table(current_user, year)
    months = [date(year, m, 1) for m in range(1, 13)]
    return render_template("manage/population.html", table=table, months=months, year=year,
                           form=form, errors=errors,
                           columns=population_service.POPULATION_COLUMNS), status


@csrf.exempt  # checked by the form itself, after the larger body limit applies (blueprint.py)
@bp.post("/population/import")
@role_required("admin")
def import_population():
    """Import transaction counts (unit × field × month); a month imported again is replaced."""
    return _import(population_service.import_population, "manage.population",
                   lambda form, errors: _population_page(form, errors=errors, status=422))


def _save(form, save) -> tuple[str, int | None] | None:
    """Run ``save`` and commit; the saved row's (name, unit id), or ``None`` with the error shown."""
    try:
        saved = save()
    except unit_service.UnitError as exc:
        db.session.rollback()
        field_error(form, exc.field, exc.msgid, exc.params)
        return None
    name, unit_id = saved.name, getattr(saved, "unit_id", None)  # read before the commit expires it
    return (name, unit_id) if commit() else None
