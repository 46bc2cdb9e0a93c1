"""Routes of the patient list, the patient panel and the refill board. The panel names its
patient `patient_id`, so the access matrix (tests/patients/test_access_matrix.py) walks it."""

from django.urls import path

from . import board, patients

urlpatterns = [
    path("clinic/patients/", patients.patient_list, name="console-patients"),
    path("clinic/patients/<int:patient_id>/", patients.patient_panel, name="console-panel"),
    path("clinic/board/", board.refill_board, name="console-board"),
    path("clinic/board.csv", board.refill_board_csv, name="console-board-csv"),
]
