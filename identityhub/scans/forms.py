from django import forms

MAX_UPLOAD_MB = 512


class UploadForm(forms.Form):
    export = forms.FileField(help_text="An LDIF file from ldifde or a CSV file from csvde.")

    def clean_export(self):
        export = self.cleaned_data["export"]
        if export.size > MAX_UPLOAD_MB * 1024 * 1024:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_MB} MB.")
        if not export.name.lower().endswith((".ldf", ".ldif", ".csv", ".txt")):
            raise forms.ValidationError("Expected an .ldf/.ldif (ldifde) or .csv (csvde) file.")
        return export
